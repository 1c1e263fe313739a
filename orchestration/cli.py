"""The `ccs` command line: one entry point, one subcommand per job."""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def ccs_home() -> Path:
    return Path(os.environ.get("CCS_HOME", ".ccs")).resolve()


def month(text: str) -> str:
    try:
        year, mm = text.split("-")
        if len(year) != 4 or not 1 <= int(mm) <= 12:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2019-01") from None
    return f"{int(year):04d}-{int(mm):02d}"


def fault(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    return name, int(value or 1)


def cmd_generate(args) -> int:
    from area_systems.generate import generate

    if args.end < args.start:
        sys.exit(f"ccs generate: --end {args.end} is before --start {args.start}")
    started = time.perf_counter()
    manifest = generate(Path(args.out), seed=args.seed, scale=args.scale, start=args.start, end=args.end,
                        areas=args.area or None)
    truth = json.loads((Path(args.out) / "ground_truth.json").read_text())
    total = sum(y["referrals"] for a in truth["areas"].values() for y in a["years"].values())
    print(f"generated {total:,} referrals for {len(manifest['areas'])} areas in "
          f"{time.perf_counter() - started:.1f}s -> {Path(args.out).resolve()}")
    return 0


def cmd_serve_sources(args) -> int:
    from area_systems.server import admin_token, serve

    server = serve(Path(args.data), args.host, args.port, dict(args.fault or []), args.now)
    manifest = json.loads((Path(args.data) / "manifest.json").read_text())
    host, port = server.server_address[:2]
    print(f"serving {', '.join(server.areas)} on http://{host}:{port} (admin token {admin_token(manifest)})",
          flush=True)
    for key in server.areas:
        print(f"  {key}: http://{host}:{port}/{key}/api/referrals  (token in {Path(args.data) / 'manifest.json'})",
              flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_demo(args) -> int:
    """For now: generate the world (once) and serve the API areas; the pipeline joins later."""
    world = ccs_home() / "world"
    if not (world / "manifest.json").exists():
        cmd_generate(argparse.Namespace(out=str(world), seed=args.seed, scale=args.scale, start="2019-01",
                                        end="2022-12", area=None))
    manifest = json.loads((world / "manifest.json").read_text())
    for key, info in manifest["areas"].items():
        where = world / info["exports"] if info["transport"] == "csv" else f"http://127.0.0.1:{args.port}{info['api_path']}"
        print(f"  {key:14} {info['system']}: {where}")
    print(f"  ground truth: {world / 'ground_truth.json'}")
    if args.no_serve:
        return 0
    return cmd_serve_sources(argparse.Namespace(data=str(world), host="127.0.0.1", port=args.port, fault=None, now=None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccs", description="CCS Insights: evidence from crisis-support referral networks")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write the synthetic area systems' world")
    gen.add_argument("--out", required=True, help="folder to write (one subfolder per area)")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--scale", type=float, default=1.0, help="1 = the volumes in the seed documents")
    gen.add_argument("--start", type=month, default="2019-01")
    gen.add_argument("--end", type=month, default="2022-12")
    gen.add_argument("--area", action="append", help="only this area (repeatable)")
    gen.set_defaults(run=cmd_generate)

    serve = sub.add_parser("serve-sources", help="serve the API areas of a generated world over HTTP")
    serve.add_argument("--data", required=True, help="a folder written by `ccs generate`")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--now", help="the systems' clock (ISO 8601); default the end of the world")
    serve.add_argument("--fault", action="append", type=fault, metavar="NAME=N",
                       help="error_every, slow_ms, truncate_every, repeat_record, rate_limit")
    serve.set_defaults(run=cmd_serve_sources)

    demo = sub.add_parser("demo", help="generate the world under $CCS_HOME/world and serve the area systems")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument("--no-serve", action="store_true", help="stop after generating")
    demo.set_defaults(run=cmd_demo)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
