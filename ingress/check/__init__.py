"""`portico check`: what Portico would do with a cluster's (or a directory's) Ingresses.

It serves nothing. It builds the routing table once, exactly as `portico
run` would, and reports per Ingress: each annotation's verdict, the routes
it gets, and what is wrong. The exit status is 1 when any Ingress will
behave differently from ingress-nginx, so CI can gate a migration on it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from ingress.build import build
from ingress.check.objects import from_cluster, from_directory, with_named
from ingress.check.render import as_json, as_text
from ingress.check.report import make_report
from ingress.model import ObjectRef
from ingress.settings import DEFAULT_CONTROLLER_NAME, DEFAULT_INGRESS_CLASS, BuildSettings
from ingress.store import Snapshot

__all__ = ["add_arguments", "run_check"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--manifests", type=Path, help="check the objects in this directory")
    source.add_argument("--kubeconfig",
                        help="check a cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--namespace", help="only this namespace (default: the context's)")
    parser.add_argument("-A", "--all-namespaces", action="store_true",
                        help="every namespace of the cluster")
    parser.add_argument("--ingress-class", default=DEFAULT_INGRESS_CLASS,
                        help="the class to check; `nginx` checks what ingress-nginx serves today")
    parser.add_argument("--controller-name",
                        help="spec.controller of the IngressClasses to check (default: that of "
                             f"the --ingress-class IngressClass, else {DEFAULT_CONTROLLER_NAME})")
    parser.add_argument("--watch-ingress-without-class", action="store_true",
                        help="also check Ingresses that name no class")
    parser.add_argument("--default-ssl-certificate", help="ns/name of the default TLS Secret")
    parser.add_argument("--configmap", type=_config_map,
                        help="ns/name of ingress-nginx's controller ConfigMap: its keys are "
                             "checked too, and the Ingresses built with them")
    parser.add_argument("--output", choices=("text", "json"), default="text")


def _config_map(text: str) -> ObjectRef:
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{text!r} is not namespace/name")
    return ObjectRef("ConfigMap", namespace, name)


def _controller_of(objects: Snapshot, class_name: str) -> str:
    """Checking a class means checking it as if Portico were its controller."""
    ingress_class = objects.get("IngressClass", {}).get(("", class_name))
    spec = ingress_class.get("spec") if ingress_class is not None else None
    controller = spec.get("controller") if isinstance(spec, Mapping) else None
    return controller if isinstance(controller, str) and controller else DEFAULT_CONTROLLER_NAME


def run_check(args: argparse.Namespace) -> int:
    """0: every Ingress (and the ConfigMap) behaves as before; 1: some will not; 2: the
    objects could not be read."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.manifests is not None:
            objects = from_directory(args.manifests)
        else:
            namespace = None if args.all_namespaces else args.namespace
            objects = from_cluster(args.kubeconfig, namespace, not args.all_namespaces)
    except Exception as error:  # any failure to read is the user's to see, not a traceback
        print(f"portico check: cannot read the objects: {error}", file=sys.stderr)
        return 2
    config: ObjectRef | None = args.configmap
    settings = BuildSettings(
        ingress_class=args.ingress_class,
        controller_name=args.controller_name or _controller_of(objects, args.ingress_class),
        watch_ingress_without_class=args.watch_ingress_without_class,
        default_ssl_certificate=args.default_ssl_certificate,
        configmap=f"{config.namespace}/{config.name}" if config else None,
    )
    if args.manifests is None and config is not None:
        try:
            objects = with_named(objects, "ConfigMap", frozenset({(config.namespace, config.name)}),
                                 args.kubeconfig)
        except Exception as error:
            print(f"portico check: cannot read the objects: {error}", file=sys.stderr)
            return 2
    result = build(objects, settings, time.time())
    if args.manifests is None:
        try:
            objects = with_named(objects, "Secret", result.referenced_secrets, args.kubeconfig)
        except Exception as error:
            print(f"portico check: cannot read the objects: {error}", file=sys.stderr)
            return 2
        result = build(objects, settings, time.time())
    report = make_report(objects, result, config)
    sys.stdout.write(as_json(report) if args.output == "json" else as_text(report))
    return 0 if report.same else 1
