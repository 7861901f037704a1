#!/usr/bin/env python3
"""Rewrites the README's "Numbers" section (from `## Numbers` to the end of the file) from the
tables in bench/results/ that the benchmark scripts wrote. Run by bench/all.sh; run it alone
after any one script to refresh the README."""

import json
import os
import re
import statistics
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
results = os.path.join(root, "bench", "results")
readme = os.path.join(root, "README.md")


def body(name):
    """A results page without its title, its headings one level down."""
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return f"_No results yet: `bench/results/{name}` is missing._\n"
    text = open(path).read()
    text = re.sub(r"\A# .*\n+", "", text)
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", text, flags=re.M)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    return f"{os.cpu_count()} cores, {cpu}, {mem / 1048576:.1f} GiB RAM"


def at_a_glance():
    """The headline figures, read from the results' JSON and Markdown (nothing typed in)."""
    rows = []
    try:
        c = json.load(open(os.path.join(results, "compare.json")))
        med = lambda v: statistics.median(x for r in v for x in r["to_first_command_ms"])
        run = {(r["who"], r["label"]): r for r in c["runs"]}
        o, p, s = med(c["cold_ours"]), med(c["cold_peer"]), med(c["cold_peer_sync"])
        rows.append(("cold start to the first verified `help` (median)", f"{o:.1f} ms",
                     f"{p:.1f} ms ({p / o:.1f}×); sync {s:.1f} ms ({s / o:.1f}×)", "bench/compare.sh"))
        for label, key, name, unit, fmt in (("fixed rate", "p50_ms", "p50", "ms", "{:.2f}"), ("fixed rate", "p99_ms", "p99", "ms", "{:.2f}"),
                                            ("saturation", "throughput_rps", "throughput", "req/s", "{:.0f}"),
                                            ("saturation", "p99_ms", "p99", "ms", "{:.2f}"),
                                            ("saturation", "server_vm_hwm_kib", "peak RSS", "MiB", "{:.1f}")):
            val = lambda who: run[(who, label)][key] / (1024 if unit == "MiB" else 1)
            r = lambda who: (val("ours") / val(who)) if key == "throughput_rps" else (val(who) / val("ours"))
            load = f"{run[('ours', label)]['rate']:g} req/s" if run[("ours", label)]["rate"] else f"{run[('ours', label)]['connections']} connections"
            rows.append((f"signed `help`, {label} ({load}): {name}", f"{fmt.format(val('ours'))} {unit}",
                         f"{fmt.format(val('peer'))} {unit} ({r('peer'):.2f}×); sync {fmt.format(val('peer-sync'))} {unit} ({r('peer-sync'):.2f}×)",
                         "bench/compare.sh"))
    except (OSError, KeyError, ValueError) as e:
        rows.append(("comparison", f"missing ({e})", "", "bench/compare.sh"))
    try:
        a = json.load(open(os.path.join(results, "approval.json")))
        for ph in a["phases"]:
            rows.append((f"last approval click → share on NCP / final card, {ph['latency_ms']} ms NCP latency (median)",
                         f"{ph['share_present']['median_ms']:.2f} ms / {ph['final_card']['median_ms']:.2f} ms",
                         f"floor {ph['floor_share_ms']} ms / {ph['floor_card_ms']} ms ({ph['round_trips_to_share']} / {ph['round_trips']} round trips)",
                         "bench/approval.sh"))
    except (OSError, KeyError, ValueError) as e:
        rows.append(("approval", f"missing ({e})", "", "bench/approval.sh"))
    try:
        f = open(os.path.join(results, "faults.md")).read()
        get = lambda k: re.search(r"\| " + re.escape(k) + r"[^|]*\| ([^|]+) \|", f).group(1).strip()
        rows.append(("kill -9 × 20: lost / executed twice / `audit verify`",
                     f"{get('lost')} / {get('executed twice')} / {get('`audit verify`')}", "", "bench/faults.sh"))
        rows.append(("kill -9 × 20 during delivery: Slack messages lost / posted twice (card, DM, thread reply)",
                     f"{get('lost (never posted')} of {get('Slack messages owed')} / "
                     f"{get('posted twice: approval card')}, {get('posted twice: direct message')}, {get('posted twice: thread reply')}",
                     "Slack has no idempotency key for a post", "bench/faults.sh"))
    except (OSError, AttributeError) as e:
        rows.append(("fault suite", f"missing ({e})", "", "bench/faults.sh"))
    try:
        o = json.load(open(os.path.join(results, "options.json")))
        for r in o["runs"]:
            load = f"{r['rate']:g} req/s" if r["rate"] else f"{r['connections']} connections"
            rows.append((f"the request form's image picker (`/slack/options`, 2,000 images), {load}: p99 / throughput",
                         f"{r['p99_ms']:.2f} ms / {r['throughput_rps']:.0f} req/s", "Slack allows 3,000 ms", "bench/options.sh"))
    except (OSError, KeyError, ValueError) as e:
        rows.append(("options", f"missing ({e})", "", "bench/options.sh"))
    try:
        f = open(os.path.join(results, "replicas.md")).read()
        get = lambda k: re.search(r"\| " + re.escape(k) + r"[^|]*\| ([^|]+) \|", f).group(1).strip()
        messages_lost = re.search(r"\| lost \| ([^|]+) \|", f).group(1).strip()
        rows.append(("two replicas on PostgreSQL, one killed by kill -9 mid-load: requests lost / executed twice / messages lost / `audit verify`",
                     f"{get('lost (acknowledged')} / {get('executed twice')} / "
                     f"{messages_lost} of {get('Slack messages owed')} / {get('`audit verify`')}",
                     f"{get('requests acknowledged')}", "bench/replicas.sh"))
    except (OSError, AttributeError) as e:
        rows.append(("replicas", f"missing ({e})", "", "bench/replicas.sh"))
    try:
        r = json.load(open(os.path.join(results, "replicas-load.json")))["runs"]
        med = lambda store, n: statistics.median(x["throughput_rps"] for x in r if (x["store"], x["replicas"]) == (store, n))
        one, two, lite = med("postgres", 1), med("postgres", 2), med("sqlite", 1)
        rows.append(("signed `share`, saturation: PostgreSQL 1 replica → 2 replicas (median)", f"{one:.0f} → {two:.0f} req/s",
                     f"SQLite, 1 process: {lite:.0f} req/s (all on one 2-core machine)", "bench/replicas-load.sh"))
    except (OSError, KeyError, ValueError, statistics.StatisticsError) as e:
        rows.append(("replicas load", f"missing ({e})", "", "bench/replicas-load.sh"))
    out = ["### At a glance\n", "Read from the results below; ratios are peer ÷ ours (throughput: ours ÷ peer), above 1 favours ours. "
           "Peer = Python Slack Bolt under gunicorn with Bolt's defaults; sync = the same with `process_before_response=True`.\n",
           "| figure | ours | the usual alternative, or the floor | command |", "|---|---:|---|---|"]
    out += [f"| {a} | {b} | {c} | `{d}` |" for a, b, c, d in rows]
    return "\n".join(out) + "\n"


sections = [
    ("Criterion micro-benchmarks", "bench/run.sh", "criterion.md",
     "Medians of every criterion benchmark (`benches/`: NCP signing and decoding, policy evaluation, the audit ledger, Slack/Jira/webhook verification, the sweep's store queries)."),
    ("The sweep's store queries at 100,000 rows", "bench/sweep.sh", "sweep.md",
     "`grants_ending_by` and `pending_due` as index ranges, against reading every open grant or pending request and filtering."),
    ("Load: signed slash commands against `serve`", "bench/load.sh", "load.md",
     "Warm `help` and `share` commands at a fixed rate and at saturation, server CPU and peak memory, and cold start."),
    ("Load side by side with the previous commit", "bench/sidebyside.sh", "load-side-by-side.md",
     "`bench/load.sh` against this commit's server and an earlier one's, alternating, one load generator."),
    ("Ours vs the usual alternative (Python Slack Bolt)", "bench/compare.sh", "compare.md",
     "The same signed `help` against both, side by side in one run; ratios above 1 favour ours."),
    ("Approval click to share applied and posted", "bench/approval.sh", "approval.md",
     "From the last approval click to the share on NCP and the final card in Slack, against the floor of NCP round trips × latency."),
    ("The request form's image picker under load", "bench/options.sh", "options.md",
     "Signed `block_suggestion`s against `/slack/options` on an account with 2,000 images: the policy's images from the cached catalog, filtered by what was typed, at a fixed rate and at saturation."),
    ("Fault suite", "bench/faults.sh", "faults.md",
     "`kill -9` of the server 20 times at random points while approved requests execute and their Slack messages are delivered."),
    ("Two replicas on PostgreSQL, one killed with kill -9", "bench/replicas.sh", "replicas.md",
     "200 approved requests over 20 images through two `serve` replicas on one PostgreSQL; one replica is killed with SIGKILL halfway and not restarted."),
    ("Signed share requests: one and two replicas on PostgreSQL", "bench/replicas-load.sh", "replicas-load.md",
     "The `share` saturation scenario of `bench/load.sh` against one and two replicas on one PostgreSQL (and one process on SQLite), alternating."),
    ("Metrics on and off", "bench/metrics-overhead.sh", "metrics-overhead.md",
     "Signed `help` at saturation and at a fixed rate against `serve` with metrics on (the Prometheus recorder, GET /metrics scraped every second) and off (`[metrics] listen = \"off\"`), in alternating rounds."),
]

out = ["## Numbers\n",
       "Every figure below was measured by the script named with it and copied here by "
       "`bench/readme_numbers.py` from `bench/results/`; `bench/all.sh` runs them all in sequence "
       "(about 20 minutes, builds included) and regenerates this section. "
       f"Machine of this run: {machine()}, shared with other builds, so each table gives the load "
       "average (1 / 5 / 15 min) it was measured under. Nothing here is a target or an estimate.\n"]
out.append(at_a_glance())
for title, cmd, page, intro in sections:
    out.append(f"### {title}\n")
    out.append(f"{intro} Reproduce: `{cmd}`.\n")
    out.append(body(page))
text = open(readme).read()
at = text.find("\n## Numbers\n")
if at < 0:
    sys.exit("README.md has no '## Numbers' section")
open(readme, "w").write(text[: at + 1] + "\n".join(out).rstrip() + "\n")
print("README.md: Numbers section rewritten")
