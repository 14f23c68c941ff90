#!/usr/bin/python3
"""cairn_example.py: a cairn agent plugin in Python.

It speaks the same protocol as plugins written on libcairn-plugin
(docs/plugins.md), with nothing but Debian's python3-grpcio and
python3-protobuf: the message classes come from protoc --python_out (run by
the build, next to this script) and the two services are registered as
generic method handlers, so no generated *_pb2_grpc module is needed.

Series: example_py_uptime_seconds and example_py_load1 (gauges, from
/proc/uptime and /proc/loadavg; CAIRN_PROCFS names another procfs root) and
example_py_collects_total (a counter of the Collect calls answered).
"""

import os
import signal
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import grpc
    import health_pb2  # generated at build time, next to this script
    import metrics_pb2
    import plugin_pb2
except ImportError as e:
    sys.exit(
        "cairn_example.py: %s (it needs python3-grpcio, python3-protobuf and the "
        "*_pb2 modules the build generates next to it)" % e
    )

# The handshake (cairn/plugin.h).
CORE_VERSION = 1
PROTOCOL_VERSION = 1
COOKIE_KEY = "CAIRN_PLUGIN_MAGIC_COOKIE"
COOKIE_VALUE = "6b1f3c0e9a2d4f58b7c1e0d3a5f2b8c4"
SOCKET_DIR_ENV = "PLUGIN_UNIX_SOCKET_DIR"
PROTOCOL_VERSIONS_ENV = "PLUGIN_PROTOCOL_VERSIONS"
NOT_FOR_HUMANS = (
    "This binary is a plugin for the cairn agent. It is not meant to be run "
    "directly; name it in the agent's configuration (plugins:) or test it with "
    "`cairn plugin check PATH`."
)
STOP_GRACE_SECONDS = 1.0

FAMILIES = [
    ("example_py_uptime_seconds", "Seconds since boot.", metrics_pb2.GAUGE),
    ("example_py_load1", "Load average over one minute.", metrics_pb2.GAUGE),
    ("example_py_collects_total", "Collect calls answered.", metrics_pb2.COUNTER),
]


def first_field(path):
    with open(path, encoding="ascii") as f:
        return float(f.read().split()[0])


class ExamplePlugin:
    """The handlers of cairn.plugin.v1.Plugin and grpc.health.v1.Health."""

    def __init__(self, procfs):
        self.procfs = procfs
        self.lock = threading.Lock()
        self.collects = 0

    def info(self, request, context):
        return plugin_pb2.InfoResponse(
            name="example_py",
            version="1.0",
            protocol_version=PROTOCOL_VERSION,
            families=[metrics_pb2.MetricFamily(name=n, help=h, type=t) for n, h, t in FAMILIES],
        )

    def collect(self, request, context):
        try:
            uptime = first_field(os.path.join(self.procfs, "uptime"))
            load1 = first_field(os.path.join(self.procfs, "loadavg"))
        except (OSError, ValueError, IndexError) as e:
            context.abort(grpc.StatusCode.UNKNOWN, "cannot read %s: %s" % (self.procfs, e))
        with self.lock:
            self.collects += 1
            collects = self.collects
        values = {
            "example_py_uptime_seconds": metrics_pb2.Metric(gauge=metrics_pb2.Gauge(value=uptime)),
            "example_py_load1": metrics_pb2.Metric(gauge=metrics_pb2.Gauge(value=load1)),
            "example_py_collects_total": metrics_pb2.Metric(
                counter=metrics_pb2.Counter(value=collects)
            ),
        }
        return plugin_pb2.CollectResponse(
            families=[
                metrics_pb2.MetricFamily(name=n, help=h, type=t, metric=[values[n]])
                for n, h, t in FAMILIES
            ]
        )

    def check(self, request, context):
        if request.service not in ("", "cairn.plugin.v1.Plugin"):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def handlers(self):
        def unary(fn, request_type):
            return grpc.unary_unary_rpc_method_handler(
                fn,
                request_deserializer=request_type.FromString,
                response_serializer=lambda m: m.SerializeToString(),
            )

        return (
            grpc.method_handlers_generic_handler(
                "cairn.plugin.v1.Plugin",
                {
                    "Info": unary(self.info, plugin_pb2.InfoRequest),
                    "Collect": unary(self.collect, plugin_pb2.CollectRequest),
                },
            ),
            grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health",
                {"Check": unary(self.check, health_pb2.HealthCheckRequest)},
            ),
        )


def socket_path():
    """The socket to listen on, or None after saying on stderr why not."""
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        print(NOT_FOR_HUMANS, file=sys.stderr)
        return None
    sockdir = os.environ.get(SOCKET_DIR_ENV)
    if not sockdir:
        print("cairn_example.py: %s is not set" % SOCKET_DIR_ENV, file=sys.stderr)
        return None
    versions = os.environ.get(PROTOCOL_VERSIONS_ENV)
    if versions is not None and str(PROTOCOL_VERSION) not in [
        v.strip() for v in versions.split(",")
    ]:
        print(
            "cairn_example.py: the agent speaks plugin protocol version %s, "
            "this plugin speaks version %d" % (versions, PROTOCOL_VERSION),
            file=sys.stderr,
        )
        return None
    path = os.path.join(sockdir, "plugin.sock")
    if len(path.encode()) >= 108:
        print("cairn_example.py: socket path %s is too long" % path, file=sys.stderr)
        return None
    return path


def main():
    path = socket_path()
    if path is None:
        return 1
    # As the C SDK does: the stop signals are blocked before gRPC starts its
    # threads and taken with sigwait by the main thread.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    plugin = ExamplePlugin(os.environ.get("CAIRN_PROCFS", "/proc"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(plugin.handlers())
    if os.path.exists(path):
        os.unlink(path)
    server.add_insecure_port("unix:" + path)
    server.start()
    try:
        print("%d|%d|unix|%s|grpc" % (CORE_VERSION, PROTOCOL_VERSION, path), flush=True)
    except OSError as e:
        print("cairn_example.py: cannot write the handshake line: %s" % e, file=sys.stderr)
        server.stop(None)
        return 1

    signal.sigwait(stop_signals)
    server.stop(STOP_GRACE_SECONDS).wait()
    if os.path.exists(path):
        os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
