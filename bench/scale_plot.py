"""Draws the scale benchmark: wall time and peak RSS of each step against the list size."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = json.load(open(sys.argv[1]))
steps = []
for r in rows:
    key = (r["tool"], r["step"])
    if key not in steps:
        steps.append(key)
fig, (time_ax, rss_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
for tool, step in steps:
    mine = sorted((r for r in rows if (r["tool"], r["step"]) == (tool, step)), key=lambda r: r["images"])
    sizes = [r["images"] for r in mine]
    style = "--" if tool == "skopeo" else "-"
    label = f"{tool} {step}"
    time_ax.plot(sizes, [r["wall_s"] for r in mine], style, marker="o", label=label)
    rss_ax.plot(sizes, [r["peak_rss_mib"] for r in mine], style, marker="o", label=label)
time_ax.set(xlabel="images in the list", ylabel="wall time (s)", title="Time", xscale="log", yscale="log")
rss_ax.set(xlabel="images in the list", ylabel="peak RSS of one process (MiB)", title="Memory", xscale="log")
rss_ax.set_ylim(bottom=0)
for ax in (time_ax, rss_ax):
    ax.grid(True, which="both", alpha=0.3)
time_ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
