#!/usr/bin/env python3
"""Rewrites the README's "Numbers" section (from `## Numbers` to the end of the file) from the
tables in bench/results/ that the benchmark scripts wrote. Run by bench/all.sh; run it alone
after any one script to refresh the README."""

import os
import re
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


sections = [
    ("Criterion micro-benchmarks", "bench/run.sh", "criterion.md",
     "Medians of every criterion benchmark (`benches/`: NCP signing and decoding, policy evaluation, the audit ledger, Slack/Jira/webhook verification)."),
    ("Load: signed slash commands against `serve`", "bench/load.sh", "load.md",
     "Warm `help` and `share` commands at a fixed rate and at saturation, server CPU and peak memory, and cold start."),
    ("Ours vs the usual alternative (Python Slack Bolt)", "bench/compare.sh", "compare.md",
     "The same signed `help` against both, side by side in one run; ratios above 1 favour ours."),
    ("Approval click to share applied and posted", "bench/approval.sh", "approval.md",
     "From the last approval click to the share on NCP and the final card in Slack, against the floor of NCP round trips × latency."),
    ("Fault suite", "bench/faults.sh", "faults.md",
     "`kill -9` of the server 20 times at random points while approved requests execute."),
]

out = ["## Numbers\n",
       "Every figure below was measured by the script named with it and copied here by "
       "`bench/numbers.py` from `bench/results/`; `bench/all.sh` runs them all in sequence "
       "(about 20 minutes, builds included) and regenerates this section. "
       f"Machine of this run: {machine()}, shared with other builds, so each table gives the load "
       "average (1 / 5 / 15 min) it was measured under. Nothing here is a target or an estimate.\n"]
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
