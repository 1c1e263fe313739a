"""The `ccs` command line: one entry point, one subcommand per job."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import AreaConfig, ConfigError, ccs_home, load_areas, write_areas


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
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop on SIGTERM as on Ctrl-C
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


def cmd_ingest(args) -> int:
    from .ingest.directory import ingest_directory
    from .ingest.privacy import load_key
    from .ingest.run import ingest_area

    home = ccs_home()
    key = load_key(home, create=args.demo_key)
    areas = [a for a in load_areas(args.config) if not args.area or a.key in args.area]
    failed = False
    for area in areas:
        try:
            reports = ingest_area(area, home, key, full_resync=args.full_resync)
        except Exception as error:  # one area's failure must not stop the others; say what and where
            failed = True
            print(f"{area.key}: FAILED, nothing committed: {error}", file=sys.stderr)
            continue
        for r in reports:
            reasons = ", ".join(f"{k} x{v}" for k, v in r.reasons.items())
            print(f"{area.key}: {r.source}: {r.rows_in} rows -> {r.landed} landed, {r.already_landed} already landed, "
                  f"{r.quarantined} quarantined{' (' + reasons + ')' if reasons else ''}"
                  f"{'' if r.reconciles else '  DOES NOT RECONCILE'}")
        if not reports:
            print(f"{area.key}: nothing new")
        try:
            directory = ingest_directory(area, home)
            print(f"{area.key}: directory: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in directory.items()))
        except Exception as error:
            failed = True
            print(f"{area.key}: directory FAILED, the previous directory stays: {error}", file=sys.stderr)
    if not args.area:
        failed |= not ingest_grants_reporting(args.config)
    return 1 if failed else 0


def ingest_grants_reporting(config: str | None) -> bool:
    """The funders' 360Giving files from areas.yaml's `grants:` section: what landed, what was set aside."""
    from .ingest.grants import ingest_grants

    try:
        report = ingest_grants(Path(config) if config else None, ccs_home())
    except Exception as error:
        print(f"grants: FAILED, nothing committed: {error}", file=sys.stderr)
        return False
    reasons = ", ".join(f"{k} x{v}" for k, v in report.reasons.items())
    print(f"grants: {report.rows_in} rows -> {report.landed} landed, {report.quarantined} quarantined"
          f"{' (' + reasons + ')' if reasons else ''}{'' if report.reconciles else '  DOES NOT RECONCILE'}")
    return True


def cmd_build(args) -> int:
    """Build and test the warehouse from what is landed (dbt on DuckDB)."""
    from .warehouse import build

    snapshot = build()
    print(f"warehouse: {ccs_home() / 'warehouse.duckdb'}\nserving snapshot: {snapshot}")
    return 0


def cmd_linkage_quality(args) -> int:
    """Pairwise precision and recall of the landed people against the world's ground truth."""
    import pandas as pd

    from .ingest.linkage import pair_quality

    home, worst = ccs_home(), 1.0
    for area in args.area or ["norfolk", "tower_hamlets", "oldham", "swansea_npt"]:
        people_file = home / "landing" / area / "people.parquet"
        truth_file = Path(args.world) / "ground_truth_people" / f"{area}.parquet"
        if not people_file.exists():
            print(f"{area}: nothing landed")
            continue
        people = pd.read_parquet(people_file).set_index("referral_id")["person_key"]
        truth = pd.read_parquet(truth_file).set_index("referral_id")["person_id"].reindex(people.index)
        q = pair_quality(people, truth)
        worst = min(worst, q["precision"], q["recall"])
        print(f"{area:14} records {q['records']:>8,}  people found {q['people_found']:>8,} (true {q['people_true']:,})"
              f"  precision {q['precision']:.4f}  recall {q['recall']:.4f}")
    return 0 if worst >= args.target else 1


def cmd_run(args) -> int:
    """Materialise every asset through Dagster: each configured area's ingestion, the grants, then the
    warehouse (dbt models and tests), which publishes the snapshot."""
    from .pipeline import run_everything

    return 0 if run_everything(areas=args.area, demo_key=args.demo_key) else 1


def cmd_compare(args) -> int:
    from .compare import comparison, print_comparison

    snapshot = snapshot_file()
    try:
        rows = comparison(snapshot, args.area, args.before, args.after)
    except LookupError as error:
        print(f"ccs compare: {error}", file=sys.stderr)
        return 2
    print_comparison(rows, args.area, args.before, args.after)
    return 0 if all(r["within_band"] is not False for r in rows) else 1


def cmd_pack(args) -> int:
    from dashboards.pack import build_pack

    try:
        out = build_pack(snapshot_file(), args.area, args.period, Path(args.out))
    except ValueError as error:  # an area or period the snapshot does not have
        print(f"ccs pack: {error}", file=sys.stderr)
        return 2
    print(f"steering-group pack: {out}")
    return 0


def snapshot_file() -> Path:
    snapshot = ccs_home() / "serving" / "current.duckdb"
    if not snapshot.exists():
        raise ConfigError(f"no serving snapshot at {snapshot}: run `ccs run` (or `ccs build`) first")
    return snapshot


def start_dashboards(port: int) -> subprocess.Popen:
    """The Streamlit app on the published snapshot (it reads nothing else)."""
    app = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
    env = {**os.environ, "CCS_HOME": str(ccs_home())}
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--client.toolbarMode", "viewer"], env=env)


def cmd_dashboard(args) -> int:
    snapshot_file()
    process = start_dashboards(args.port)
    print(f"dashboards: http://localhost:{args.port} (Ctrl-C to stop)", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return 0


def cmd_demo(args) -> int:
    """Generate the world (once), serve the area systems, point the pipeline at them, run the pipeline
    end to end (ingest, build, publish) and start the dashboards."""
    import threading

    from area_systems.server import serve

    home = ccs_home()
    world = home / "world"
    if not (world / "manifest.json").exists():
        cmd_generate(argparse.Namespace(out=str(world), seed=args.seed, scale=args.scale, start="2019-01",
                                        end="2022-12", area=None))
    manifest = json.loads((world / "manifest.json").read_text())
    server = serve(world, "127.0.0.1", args.port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    areas = []
    for key, info in manifest["areas"].items():
        if info["transport"] == "csv":
            areas.append(AreaConfig(key, drop_folder=world / info["exports"]))
        else:
            env = f"CCS_TOKEN_{key.upper()}"
            os.environ[env] = info["token"]  # the demo's own systems; a deployment sets these itself
            areas.append(AreaConfig(key, base_url=f"http://127.0.0.1:{port}{info['api_path']}", token_env=env))
    write_areas(home / "areas.yaml", areas, grants=[world / info["grants"] for info in manifest["areas"].values()
                                                    if info.get("grants")])
    print(f"world:          {world} (ground truth: {world / 'ground_truth.json'})")
    for a in areas:
        print(f"  {a.key:14} {manifest['areas'][a.key]['system']}: {a.drop_folder or a.base_url}")
    print(f"areas:          {home / 'areas.yaml'}", flush=True)
    code = cmd_run(argparse.Namespace(area=None, demo_key=True))
    print(f"landing:        {home / 'landing'}\nwarehouse:      {home / 'warehouse.duckdb'}\n"
          f"snapshot:       {home / 'serving' / 'current.duckdb'}", flush=True)
    if code or args.no_dashboard:
        server.shutdown()
        return code
    dashboards = start_dashboards(args.dashboard_port)
    print(f"dashboards:     http://localhost:{args.dashboard_port}\n"
          f"area systems:   http://127.0.0.1:{port} (Ctrl-C to stop both)", flush=True)
    try:
        dashboards.wait()
    except KeyboardInterrupt:
        dashboards.terminate()
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # the benchmark has its own options
        from .bench import main as bench

        return bench(argv[1:])
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

    ingest = sub.add_parser("ingest", help="land what is new from each configured area")
    ingest.add_argument("--config", help="areas.yaml (default $CCS_HOME/areas.yaml)")
    ingest.add_argument("--area", action="append", help="only this area (repeatable)")
    ingest.add_argument("--full-resync", action="store_true", help="API areas: fetch everything, not just changes")
    ingest.add_argument("--demo-key", action="store_true",
                        help="without CCS_PSEUDONYMISATION_KEY, use (or make) the demo's key file under $CCS_HOME")
    ingest.set_defaults(run=cmd_ingest)

    build = sub.add_parser("build", help="build and test the warehouse (dbt) from what is landed")
    build.set_defaults(run=cmd_build)

    quality = sub.add_parser("linkage-quality", help="precision and recall of person linkage against a world's truth")
    quality.add_argument("--world", required=True, help="the folder `ccs generate` wrote")
    quality.add_argument("--area", action="append")
    quality.add_argument("--target", type=float, default=0.98, help="exit 1 if precision or recall is below this")
    quality.set_defaults(run=cmd_linkage_quality)

    run = sub.add_parser("run", help="materialise every asset (ingestion, grants, warehouse) through Dagster")
    run.add_argument("--area", action="append", help="only this area's ingestion (repeatable); the warehouse is always built")
    run.add_argument("--demo-key", action="store_true",
                     help="without CCS_PSEUDONYMISATION_KEY, use (or make) the demo's key file under $CCS_HOME")
    run.set_defaults(run=cmd_run)

    compare = sub.add_parser("compare", help="the evaluators' network comparison for an area and two years")
    compare.add_argument("--area", required=True)
    compare.add_argument("before", type=int)
    compare.add_argument("after", type=int)
    compare.set_defaults(run=cmd_compare)

    pack = sub.add_parser("pack", help="the steering-group pack (PowerPoint) for an area and period")
    pack.add_argument("--area", required=True)
    pack.add_argument("--period", required=True, help="2022, 2022-Q3 or 2022-03")
    pack.add_argument("--out", required=True, help="the .pptx file to write")
    pack.set_defaults(run=cmd_pack)

    # listed here; its own options are parsed by orchestration.bench (see main)
    sub.add_parser("bench", help="the pipeline benchmark, 10k to 10M referrals (`ccs bench --help` for its options)")

    dashboard = sub.add_parser("dashboard", help="start the dashboards on the published snapshot")
    dashboard.add_argument("--port", type=int, default=8501)
    dashboard.set_defaults(run=cmd_dashboard)

    demo = sub.add_parser("demo", help="generate the world under $CCS_HOME/world, serve it, run the pipeline, "
                                       "start the dashboards")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--port", type=int, default=8765, help="the area systems' port; 0 picks a free one")
    demo.add_argument("--dashboard-port", type=int, default=8501)
    demo.add_argument("--no-dashboard", action="store_true", help="stop after publishing the snapshot")
    demo.set_defaults(run=cmd_demo)

    args = parser.parse_args(argv)
    from .ingest.contracts import ContractError
    from .ingest.privacy import MissingKeyError
    from .ingest.sources import BatchError

    try:
        return args.run(args)
    except (ConfigError, ContractError, MissingKeyError, BatchError) as error:
        print(f"ccs {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
