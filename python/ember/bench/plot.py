"""`ember bench --plot PATH`: a PNG bar chart of ember's speed ratios (reference time / ember time, log scale,
1 = parity) per workload, one bar per reference library and thread count. Needs matplotlib."""


def plot_ratios(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in report["workloads"] if r["validation"]["status"] == "passed"]
    names = list(dict.fromkeys(r["name"] for r in records))
    series = {}   # (label) -> {name: ratio}
    for r in records:
        for key, ratio in r["ratios"].items():
            label = key.replace("vs_", "vs ") if key.startswith("vs_") else "Python / C++"
            series.setdefault(f"{label}, {r['threads']} thread{'s' if r['threads'] > 1 else ''}", {})[r["name"]] = ratio
    fig, ax = plt.subplots(figsize=(8, 0.28 * max(len(names), 4) * max(1, len(series)) ** 0.5 + 1.2), dpi=90)
    height = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(sorted(series.items())):
        ys = [j + i * height for j, name in enumerate(names) if name in values]
        ratios = [values[name] for name in names if name in values]
        ax.barh(ys, ratios, height=height, label=label)
        for y, ratio in zip(ys, ratios):
            ax.text(ratio, y, f" {ratio:.2f}", va="center", fontsize=6)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(names))])
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    every = [v for values in series.values() for v in values.values()] or [1.0]
    ticks = [t for t in (1 / 16, 1 / 8, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64) if min(every) / 2 <= t <= max(every) * 2]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(min(every) / 1.5, max(every) * 1.6)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("reference time / ember time (> 1: ember faster)", fontsize=8)
    machine = report.get("machine", {})
    ax.set_title(f"ember bench on {machine.get('cpu', '?')} ({machine.get('isa', '?')})", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(4, max(1, len(series))))
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
