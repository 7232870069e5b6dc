"""``privet serve``: the HTTP service and dashboard of a workspace."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from privet.cli._app import Options, command, stderr


@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate (chain); with --tls-key the port speaks only HTTPS.",
)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="PEM key.")
@click.option(
    "--insecure-plain-http",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).",
)
@click.option(
    "--rate-limit",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Requests per second per token, on average.",
)
@click.option(
    "--burst", default=40, show_default=True, type=click.IntRange(min=1), help="Burst per token."
)
@click.option(
    "--stream-batch-rows",
    default=65_536,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per chunk of a streamed read (the grant is re-checked between chunks).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option(
    "--publish-checkpoints",
    type=click.Path(file_okay=False, path_type=Path),
    help="Sign a log checkpoint into this folder whenever the log has grown (every "
    "--checkpoint-every seconds, and at shutdown); point it at storage the operator cannot "
    "rewrite.",
)
@click.option(
    "--checkpoint-every",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="Seconds between checkpoints (with --publish-checkpoints).",
)
@click.option(
    "--retention-every",
    type=click.FloatRange(min=0),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Enforce retention (crypto-shred what expired) and finish pending erasures at start "
    "and every SECONDS seconds; 0 disables.",
)
@click.option(
    "--flight-port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="Also serve governed reads over Arrow Flight on PORT (same host, tokens, policy and "
    "TLS certificate; grpc+tls:// with --tls-cert, else grpc:// on loopback).",
)
@command(name="serve")
def serve_command(
    opts: Options,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_plain_http: bool,
    rate_limit: float,
    burst: int,
    stream_batch_rows: int,
    log_level: str,
    publish_checkpoints: Path | None,
    checkpoint_every: float,
    retention_every: float,
    flight_port: int | None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) and the dashboard (/dashboard/).

    Governed reads stream as Parquet, CSV or an Arrow IPC stream (format=arrow, or Accept:
    application/vnd.apache.arrow.stream); with --flight-port, over Arrow Flight too. Python
    clients read either with privet.connect(URL, token=...)."""
    from privet.server import RateLimit, ServeOptions, build_server

    options = ServeOptions(
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        insecure_plain_http=insecure_plain_http,
        rate_limit=RateLimit(rate=rate_limit, burst=burst),
        log_level=log_level,
        stream_batch_rows=stream_batch_rows,
        publish_checkpoints=publish_checkpoints,
        checkpoint_every=checkpoint_every,
        retention_every=retention_every,
        flight_port=flight_port,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        serving = build_server(opts.workspace_path, options)
    for warning in caught:
        stderr.print(f"privet: warning: {warning.message}", markup=False, highlight=False)
    scheme = "https" if tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    stderr.print(
        f"privet: serving {scheme}://{shown}:{port}/ (dashboard at /dashboard/, "
        "API spec at /openapi.json); Ctrl-C stops",
        markup=False,
        highlight=False,
    )
    if serving.flight_location is not None:
        stderr.print(
            f"privet: serving Arrow Flight at {serving.flight_location}",
            markup=False,
            highlight=False,
        )
    serving.run()
