// Command fortio is `fortio load` for HTTP: fortio's own load engine
// (fortio.org/fortio/periodic and fhttp, the code Istio's benchmarks run)
// behind the same flags and the same -json result as the upstream command.
//
// Only the command-line front is ours. Upstream's main package also links its
// scripting mode (grol.io/grol), a module the Go module proxy does not serve
// here, so `go install fortio.org/fortio@version` cannot build; this front
// links the load path alone. Benchmark infrastructure (bench/fortio.sh builds
// it): never part of the product or of the tests.
//
//	fortio load [flags] URL    e.g. fortio load -qps 1000 -c 4 -t 10s -json - URL
//	fortio version             the fortio.org/fortio module version linked in
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"fortio.org/fortio/bincommon"
	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/fortio/stats"
	"fortio.org/log"
)

func fortioVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "fortio.org/fortio" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: fortio load [flags] URL | fortio version\n")
	flag.PrintDefaults()
	os.Exit(2)
}

func main() {
	defaults := &periodic.DefaultRunnerOptions
	qps := flag.Float64("qps", defaults.QPS, "Queries per second, or 0 for no wait (max qps)")
	conns := flag.Int("c", defaults.NumThreads, "Number of connections")
	duration := flag.Duration("t", defaults.Duration, "How long to run the test")
	percentiles := flag.String("p", "50,75,90,99,99.9", "List of pXX to calculate")
	resolution := flag.Float64("r", defaults.Resolution, "Resolution of the histogram lowest buckets in seconds")
	jsonOut := flag.String("json", "", "JSON result to this `path`, or '-' for stdout")
	labels := flag.String("labels", "", "Labels to add to the JSON result")
	uniform := flag.Bool("uniform", false, "De-synchronize the connections' requests uniformly")
	nocatchup := flag.Bool("nocatchup", false, "Exact fixed qps: no catching up when the target falls behind")
	abortOn := flag.Int("abort-on", 0, "HTTP status code that aborts the run (-1 for socket errors)")
	bincommon.SharedMain()
	flag.Usage = usage

	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "version":
		fmt.Println(fortioVersion())
		return
	case "load":
	default:
		usage()
	}
	if err := flag.CommandLine.Parse(os.Args[2:]); err != nil || flag.NArg() != 1 {
		usage()
	}
	log.SetDefaultsForClientTools()
	percList, err := stats.ParsePercentiles(*percentiles)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fortio: -p: %v\n", err)
		os.Exit(2)
	}
	httpOpts := bincommon.SharedHTTPOptions()
	if *qps <= 0 {
		*qps = -1 // the runner's "max"
	}
	ro := periodic.RunnerOptions{
		QPS:         *qps,
		Duration:    *duration,
		NumThreads:  *conns,
		Percentiles: percList,
		Resolution:  *resolution,
		Out:         os.Stderr,
		Labels:      *labels,
		Uniform:     *uniform,
		NoCatchUp:   *nocatchup,
		RunID:       *bincommon.RunIDFlag,
	}
	o := fhttp.HTTPRunnerOptions{HTTPOptions: *httpOpts, RunnerOptions: ro, AbortOn: *abortOn}
	res, err := fhttp.RunHTTPTest(&o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fortio: aborting: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "All done %d calls %.3f ms avg, %.1f qps\n",
		res.DurationHistogram.Count, 1000*res.DurationHistogram.Avg, res.ActualQPS)
	if *jsonOut == "" {
		return
	}
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fortio: json: %v\n", err)
		os.Exit(1)
	}
	j = append(j, '\n')
	if *jsonOut == "-" {
		_, err = os.Stdout.Write(j)
	} else {
		err = os.WriteFile(*jsonOut, j, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fortio: %v\n", err)
		os.Exit(1)
	}
}
