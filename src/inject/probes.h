// Probe rewriting: the kubelet's probes must keep working when the proxy
// captures inbound traffic (under STRICT mTLS a plain-text kubelet probe
// would be refused). Each HTTP, TCP or gRPC probe and each httpGet/tcpSocket
// lifecycle hook of an app container (and of a user's native sidecar: an init
// container with restartPolicy: Always) becomes
//
//   httpGet: {path: /app-health/<container>/livez|readyz|startupz, port: <status port>}
//   httpGet: {path: /app-lifecycle/<container>/prestopz|poststartz, port: <status port>}
//
// and the original handler (named ports resolved to numbers, HTTPS kept, the
// probe's timeoutSeconds) is recorded under that path in the JSON the proxy
// reads from ISTIO_KUBE_APP_PROBERS, e.g.
//   {"/app-health/web/livez":{"httpGet":{"path":"/healthz","port":8080},"timeoutSeconds":1}}
// The rest of each probe (periods, thresholds) is left as it was. `exec`
// handlers are left alone. A named port that the container does not declare
// cannot be resolved, so that probe is left alone too.
//
// restoreProbes() is the inverse, used by re-injection: with the JSON of a
// previous injection it puts the original handlers back.
//
// Threading: pure functions on caller-owned values.
#pragma once

#include "core/json.h"

namespace remora::inject {

// Rewrites `spec` in place; returns the prober map (keys sorted), empty when
// nothing was rewritten. `proxy_name` containers are never touched.
Json rewriteProbes(Json& spec, int status_port);

// Puts back the handlers recorded in `probers` (an object as returned by
// rewriteProbes). Probes whose path is not in `probers` are left alone.
void restoreProbes(Json& spec, const Json& probers);

}  // namespace remora::inject
