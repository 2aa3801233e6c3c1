"""First load of a page with a chart: bytes transferred and time to the load event and to the
chart drawn, with a cold browser cache, for plotly.js's full bundle (before) and the vendored
basic bundle (after).

Budget (DESIGN.md): the first load of a chart page took about 1 s because of the 4.8 MB
plotly.min.js (issue 17).

Method: a fresh SQLite database in a temporary directory, migrated and seeded with the demo
(``seed_demo``, 6 patients per clinic); ``collectstatic`` into that directory; the app served by
gunicorn (2 workers, production settings: compressed and hashed static files from WhiteNoise, no
DEBUG; only the TLS redirect and two-factor sign-in are off, for a plain-HTTP loopback bench) on
127.0.0.1. The page is the bedside session page of the demo's monitored dosing session in the
Northside clinic (its vital-signs chart, 28 observations), opened by the demo nurse. Debian's
Chromium (headless, Playwright) signs in once; every run then opens a NEW browser context holding
only that session cookie (an empty HTTP cache: a first load) and loads the page. Measured in the
page: the navigation and resource timing entries (``transferSize``: bytes over the wire, headers
included; the plotly.js file's own compressed and decoded size), ``loadEventStart`` and the moment
the chart's ``svg.main-svg`` appears (a ``MutationObserver`` set up before the page's scripts),
both from the navigation start. Median (and min–max) of ``--runs`` runs per variant, the variants
interleaved run by run (after a warm-up run). For reference, the same first load of a page of the
same stack without a chart (the patient list) is measured alongside: what the machine and the
app cost before plotly.js enters. Two network profiles: loopback as is, and a clinic network emulated through
the DevTools protocol (``--mbps`` Mbit/s down and up, ``--rtt`` ms round trip).

"Before" is a file swap: the same server, the same HTML, the plotly.js file under the same
(hashed) name replaced by the full bundle of the same plotly.js version (4.1.1) and its gzip, so
the difference is the bundle alone. The full bundle is taken from the ``plotly`` Python package
(7.1.0, the dependency this replaced) when it is importable, else from npm
(``npm pack plotly.js-dist-min@4.1.1``); without either only "after" is measured.

Run: ``.venv/bin/python bench/bench_first_load.py [--runs 9] [--mbps 20] [--rtt 20]
[--workdir DIR]`` (``--workdir`` keeps the database there for the next run; the migrations take
a minute or two on these machines).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("KAPSTONE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BASIC = "plotly/plotly-basic.min.js"
FULL_VERSION = "4.1.1"
CHART = "#vitals-chart .main-svg"
NO_CHART = "no chart (/patients/)"
WATCH = """
window.__chartAt = null;
new MutationObserver(function (records, observer) {
  if (document.querySelector("#vitals-chart .main-svg")) {
    window.__chartAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""
MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const plotly = resources.find(r => r.name.includes("/static/plotly/"));
  return {
    transferred: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    requests: 1 + resources.length,
    plotly_transferred: plotly ? plotly.transferSize : 0,
    plotly_decoded: plotly ? plotly.decodedBodySize : 0,
    response_ms: nav.responseStart,
    dom_content_loaded_ms: nav.domContentLoadedEventStart,
    load_ms: nav.loadEventStart,
    chart_ms: window.__chartAt,
  };
}"""
SETTINGS = """from kapstone.settings import *  # noqa: F403
import os
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_bundle(workdir: Path) -> Path | None:
    """plotly.js's full minified bundle of the same version, or None."""
    spec = importlib.util.find_spec("plotly")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "package_data" / "plotly.min.js"
        if candidate.exists() and f"v{FULL_VERSION}" in candidate.read_text(errors="replace")[:200]:
            return candidate
    if shutil.which("npm"):
        result = subprocess.run(
            ["npm", "pack", f"plotly.js-dist-min@{FULL_VERSION}", "--silent"],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            with tarfile.open(workdir / result.stdout.strip().splitlines()[-1]) as archive:
                archive.extract("package/plotly.min.js", workdir, filter="data")
            return workdir / "package" / "plotly.min.js"
    return None


def django(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "kapstone", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"kapstone {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def prepare(workdir: Path) -> tuple[dict[str, str], int]:
    static = workdir / "static"
    (workdir / "bench_first_load_settings.py").write_text(SETTINGS)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_first_load_settings",
        "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]),
        "BENCH_STATIC_ROOT": str(static),
        "KAPSTONE_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "KAPSTONE_SECRET_KEY": secrets.token_urlsafe(50),
        "KAPSTONE_AUDIT_KEY": secrets.token_hex(32),
        "KAPSTONE_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "KAPSTONE_SSL_REDIRECT": "0",
        "KAPSTONE_MFA_REQUIRED": "0",
        "KAPSTONE_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",  # the demo's invitations
    }
    env.pop("KAPSTONE_DEV", None)
    started = time.perf_counter()
    django(env, "collectstatic", "--noinput", "--clear", "--verbosity", "0")
    if (workdir / "session-id").exists():  # --workdir of an earlier run: the database is there
        return env, int((workdir / "session-id").read_text())
    django(env, "migrate", "--verbosity", "0")
    session = django(
        env,
        "shell",
        stdin=(
            "from kapstone.demo.seed import seed_demo\n"
            "from kapstone.monitoring.models import Observation\n"
            "seed_demo(patients_per_clinic=6, follow_up_per_protocol=0)\n"
            "print(Observation.objects.filter(clinic__slug='north').values_list('session_id', flat=True).first())\n"
        ),
    )
    print(f"prepared the database and static files in {time.perf_counter() - started:.1f} s")
    session_id = int(session.strip().splitlines()[-1])
    (workdir / "session-id").write_text(str(session_id))
    return env, session_id


def swap_in(static: Path, bundle: bytes) -> None:
    """Put ``bundle`` under every name collectstatic gave the plotly.js file (plain, hashed, .gz)."""
    manifest = json.loads((static / "staticfiles.json").read_text())
    for name in (BASIC, manifest["paths"][BASIC]):
        (static / name).write_bytes(bundle)
        (static / (name + ".gz")).write_bytes(gzip.compress(bundle, 9))


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "kapstone.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def sign_in(browser, url: str) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", "nurse.north")
    page.fill("#id_password", "kapstone-demo-2026")
    page.press("#id_password", "Enter")
    page.wait_for_url(lambda address: "/login/" not in address)
    state = context.storage_state()
    context.close()
    return {"cookies": state["cookies"], "origins": []}  # the cookie only: nothing cached


def first_load(browser, state: dict, url: str, network: dict | None, *, chart: bool = True) -> dict:
    context = browser.new_context(storage_state=state, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(WATCH)
        if network:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", network)
        page.goto(url, wait_until="load")
        if chart:
            page.wait_for_selector(CHART, timeout=30_000)
        return page.evaluate(MEASURE)
    finally:
        context.close()


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        values = sorted(row[key] or 0 for row in rows)
        out[key] = {"median": statistics.median(values), "min": values[0], "max": values[-1]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--mbps", type=float, default=20.0, help="emulated clinic network, Mbit/s")
    parser.add_argument("--rtt", type=float, default=20.0, help="emulated round trip, ms")
    parser.add_argument("--workdir", type=Path, help="keep the database here and reuse it next time")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: nothing measured")
        return 0
    from playwright.sync_api import sync_playwright

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kapstone-bench-first-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        env, session_id = prepare(workdir)
        full_path = full_bundle(workdir)
        roots = {"after (basic bundle)": workdir / "static"}
        if full_path is None:
            print("the full plotly.js bundle is not at hand (no plotly package, no npm): only 'after'")
        else:
            before = workdir / "static-before"
            shutil.rmtree(before, ignore_errors=True)
            shutil.copytree(workdir / "static", before)
            swap_in(before, full_path.read_bytes())
            roots = {"before (full bundle)": before, **roots}
        byte_rate = args.mbps * 1_000_000 / 8
        networks = {
            "loopback": None,
            f"{args.mbps:g} Mbit/s, {args.rtt:g} ms RTT": {
                "offline": False,
                "latency": args.rtt,
                "downloadThroughput": byte_rate,
                "uploadThroughput": byte_rate,
            },
        }
        results: dict[str, dict[str, list[dict]]] = {
            net: {v: [] for v in [*roots, NO_CHART]} for net in networks
        }
        servers = {
            variant: Server({**env, "BENCH_STATIC_ROOT": str(root)}) for variant, root in roots.items()
        }
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                try:
                    states = {variant: sign_in(browser, server.url) for variant, server in servers.items()}
                    for run in range(args.runs + 1):  # run 0 warms the servers and the OS caches
                        for net, conditions in networks.items():
                            for variant, server in servers.items():
                                url = f"{server.url}/sessions/{session_id}/"
                                row = first_load(browser, states[variant], url, conditions)
                                if run:
                                    results[net][variant].append(row)
                            # The reference: a page of the same stack without a chart, same user.
                            server = servers["after (basic bundle)"]
                            row = first_load(
                                browser,
                                states["after (basic bundle)"],
                                f"{server.url}/patients/",
                                conditions,
                                chart=False,
                            )
                            if run:
                                results[net][NO_CHART].append(row)
                finally:
                    browser.close()
        finally:
            for server in servers.values():
                server.stop()
        print(
            f"First load of /sessions/<id>/ (vital-signs chart), cold cache, median (min–max) of {args.runs} runs"
        )
        for net, by_variant in results.items():
            print(f"-- {net}")
            for variant, rows in by_variant.items():
                s = summary(rows)
                print(
                    f"{variant:22} transferred {s['transferred']['median'] / 1024:7.0f} KiB "
                    f"in {s['requests']['median']:.0f} requests "
                    f"(plotly.js {s['plotly_transferred']['median'] / 1024:.0f} KiB over the wire, "
                    f"{s['plotly_decoded']['median'] / 1024:.0f} KiB decoded); "
                    f"page answered {s['response_ms']['median']:.0f} ms, "
                    f"DOMContentLoaded {s['dom_content_loaded_ms']['median']:.0f} ms, "
                    f"load {s['load_ms']['median']:.0f} ms "
                    f"({s['load_ms']['min']:.0f}–{s['load_ms']['max']:.0f}), "
                    + (
                        f"chart drawn {s['chart_ms']['median']:.0f} ms "
                        f"({s['chart_ms']['min']:.0f}–{s['chart_ms']['max']:.0f})"
                        if variant != NO_CHART
                        else "no chart"
                    )
                )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
