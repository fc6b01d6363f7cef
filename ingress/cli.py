"""`portico run | check | demo | echo | loadtest`: the command line."""

from __future__ import annotations

import argparse
import sys

from ingress import check as check_command
from ingress import settings as settings_module
from ingress.loadtest import arguments as load_arguments


class _Version(argparse.Action):
    """--version: the release, and whether the data plane runs compiled (looked up when asked:
    it imports the data plane)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="say which version and mode run")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import version

        from ingress.compiled import mode

        print(f"portico {version('portico')}, data plane {mode()}, "
              f"Python {sys.version.split()[0]}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portico", description="Kubernetes Ingress controller and reverse proxy"
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="serve Ingresses from a cluster (or --manifests DIR)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--version", action=_Version)
    settings_module.add_arguments(run)
    check = commands.add_parser(
        "check",
        help="report what Portico would do with each Ingress (a migration check); serves nothing",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    check_command.add_arguments(check)
    demo = commands.add_parser("demo", help="run the demo: two backends and examples/demo/")
    demo.add_argument("--manifests", default="examples/demo", help="demo manifests directory")
    demo.add_argument("--http-port", type=int, default=8080)
    demo.add_argument("--https-port", type=int, default=8443)
    demo.add_argument("--admin-port", type=int, default=10254)
    echo = commands.add_parser("echo", help="serve one demo pod: an HTTP echo server "
                               "(the backend of the chart's helm test)")
    echo.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    echo.add_argument("--port", type=int, default=8081)
    loadtest = commands.add_parser(
        "loadtest", help="load-test an HTTP(S) URL: latency, errors, reloads, SLO verdict",
        description=load_arguments.DESCRIPTION, epilog=load_arguments.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    load_arguments.add_arguments(loadtest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        from ingress.serve import run

        try:
            settings = settings_module.from_args(args)
        except (TypeError, ValueError) as error:
            print(f"portico run: {error}", file=sys.stderr)
            return 2
        return run(settings)
    if args.command == "check":
        return check_command.run_check(args)
    if args.command == "loadtest":
        from ingress.loadtest.command import main as run_loadtest

        return run_loadtest(args)
    if args.command == "echo":
        from ingress.demo import run_echo

        return run_echo(args.bind, args.port)
    from ingress.demo import run_demo

    return run_demo(args.manifests, args.http_port, args.https_port, args.admin_port)


if __name__ == "__main__":
    sys.exit(main())
