// Asio's implementation, compiled once for the whole program
// (ASIO_SEPARATE_COMPILATION is defined for every module).
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
