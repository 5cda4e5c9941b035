"""The pictures genolm commands save next to their data (PNG, matplotlib), in one place with the
page that shows them (:mod:`genolm.report`): a command computes and writes its numbers, then calls
one of these to draw them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

UNBINNED = "unbinned"  # what genolm bin calls the sequences in no bin


def gue_results(rows: list[dict], path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genolm.io.atomic import atomic_file

    names = [r["task"] for r in rows]
    series = [("genolm", "genolm"), ("DNABERT-2", "dnabert2"), ("NT-2500M-multi", "nt_2500m_multi")]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 4))
    for i, (label, key) in enumerate(series):
        values = [r[key] if r[key] is not None else math.nan for r in rows]
        ax.bar([x + (i - 1) * width for x in range(len(rows))], values, width, label=label)
    ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("test MCC × 100")
    ax.set_title(f"GUE: {Path(model).name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def bin_map(xy: np.ndarray, bins: list[str], truth: list[str] | None, path: Path, kind: str) -> None:
    """The UMAP map of the clustered sample, coloured by bin (and, with a truth, by genome)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("bin", bins)] + ([("truth", truth)] if truth is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for ax, (title, labels) in zip(axes[0], panels):
        names = sorted(set(labels), key=lambda v: (v == UNBINNED, v))
        colours = plt.get_cmap("tab20")
        for i, name in enumerate(names[:40]):  # a legend beyond 40 groups says nothing
            m = np.array([v == name for v in labels])
            ax.scatter(xy[m, 0], xy[m, 1], s=2, alpha=0.5, label=name,
                       color="lightgrey" if name == UNBINNED else colours(i % 20), rasterized=True)
        ax.set_title(f"{kind} UMAP, coloured by {title}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=6, markerscale=4, loc="best", ncol=2 if len(names) > 10 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def env_measured_vs_predicted(per_sample, metrics, main_name, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = [t for t, sets in metrics.items() if next(iter(sets.values()))["metric"] == "R2"]
    if not numeric:
        return
    fig, axes = plt.subplots(1, len(numeric), figsize=(4.5 * len(numeric), 4.2), squeeze=False)
    for ax, t in zip(axes[0], numeric):
        rows = [r for r in per_sample if r[1] == t]
        m = np.array([r[2] for r in rows], float)
        p = np.array([r[3] for r in rows], float)
        sd = np.array([r[4] for r in rows], float)
        ax.errorbar(m, p, yerr=sd, fmt="o", ms=3, alpha=0.7, lw=0.8)
        lo, hi = float(min(m.min(), p.min())), float(max(m.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"measured {t}")
        ax.set_ylabel("predicted (held out, per sample)")
        ax.set_title(f"{main_name}: R² {metrics[t][main_name]['score']:.2f}, mean {metrics[t]['mean']['score']:.2f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def env_map_and_time(sheet, per_sample, metrics, out: Path) -> None:
    """map.png: samples at their latitude/longitude, coloured by the measured and by the predicted
    value of the first numeric target; time.png: both against the sampling date, where known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = [t for t, sets in metrics.items() if next(iter(sets.values()))["metric"] == "R2"]
    if not numeric:
        return
    t = numeric[0]
    rows = [r for r in per_sample if r[1] == t]
    info = [sheet.samples[r[0]] for r in rows]
    placed = [(r, i) for r, i in zip(rows, info) if i.get("latitude") is not None and i.get("longitude") is not None]
    if placed:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True, sharey=True)
        m = np.array([r[2] for r, _ in placed], float)
        p = np.array([r[3] for r, _ in placed], float)
        lo, hi = float(min(m.min(), p.min())), float(max(m.max(), p.max()))
        for ax, v, name in ((axes[0], m, "measured"), (axes[1], p, "predicted (held out)")):
            sc = ax.scatter([i["longitude"] for _, i in placed], [i["latitude"] for _, i in placed], c=v,
                            cmap="coolwarm", vmin=lo, vmax=hi, s=18)
            ax.set_title(f"{t}, {name}")
            ax.set_xlabel("longitude")
        axes[0].set_ylabel("latitude")
        fig.colorbar(sc, ax=axes, shrink=0.8)
        fig.savefig(out / "map.png", dpi=110)
        plt.close(fig)
    dated = [(r, i) for r, i in zip(rows, info) if i.get("date")]
    if dated:
        import datetime

        when = [datetime.date.fromisoformat((i["date"] + "-01-01")[:10] if len(i["date"]) == 4 else
                                            (i["date"] + "-01")[:10]) for _, i in dated]
        fig, ax = plt.subplots(figsize=(8, 3.6))
        ax.scatter(when, [r[2] for r, _ in dated], s=14, label="measured")
        ax.errorbar(when, [r[3] for r, _ in dated], yerr=[r[4] for r, _ in dated], fmt="x", ms=4, lw=0.7,
                    label="predicted (held out) ± sd")
        ax.set_ylabel(t)
        ax.legend()
        fig.autofmt_xdate()
        fig.savefig(out / "time.png", dpi=110)
        plt.close(fig)


def env_permutations(nulls: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {k: v for k, v in nulls.items() if v[1] is not None}
    if not shown:
        return
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, (name, (true, null, p)) in zip(axes[0], shown.items()):
        ax.hist(1000 * (np.asarray(null) - true), bins=40, color="0.6", label="shuffled conditions")
        ax.axvline(0, color="C3", lw=1.5, label="true conditions")
        ax.set_title(f"{name}: p = {p:.3g}", fontsize=10)
        ax.set_xlabel("held-out bits per kb, shuffled − true")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evolve_landscape(muts, score: np.ndarray, truth, cons, result: dict, path: Path) -> None:
    """Heatmap of the substitution scores (amino acid x protein position); true sweeps circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genolm.bio.genome_stats import AMINO_ACIDS as AMINO

    n = len(cons)
    grid = np.full((len(AMINO), n), np.nan)
    for (j, a), s in zip(muts, score):
        grid[AMINO.index(a), j] = s
    fig, ax = plt.subplots(figsize=(min(40, 4 + n / 12), 5))
    lo, hi = np.nanpercentile(grid, [2, 99.5]) if np.isfinite(grid).any() else (0, 1)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest",
                   extent=(0.5, n + 0.5, len(AMINO) - 0.5, -0.5))
    ax.scatter(np.arange(1, n + 1), [AMINO.index(c) if c in AMINO else np.nan for c in cons],
               s=4, c="white", marker="s", linewidths=0, label="last season's consensus")
    if truth is not None and truth.any():
        k = np.flatnonzero(truth)
        ax.scatter([muts[i][0] + 1 for i in k], [AMINO.index(muts[i][1]) for i in k], s=60, facecolors="none",
                   edgecolors="red", linewidths=1.5, label=f"swept in {result['predict']} (>= 50%)")
    ax.set_yticks(range(len(AMINO)), list(AMINO))
    ax.set_xlabel("codon (amino-acid position)")
    ax.set_title(f"genolm mutation scores on the {result['until']} consensus (log-likelihood ratio, nats)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evolve_seasons(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seasons = [r for r in results if "evaluation" in r]
    x = [r["predict"] for r in seasons]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for k in seasons[0]["evaluation"]["strain_pick"]:
        axes[0].plot(x, [r["evaluation"]["strain_pick"][k] for r in seasons], marker="o",
                     lw=2.5 if k == "genolm" else 1.2, label=k)
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set_title("strain pick (1 = best candidate, 0 = random)")
    for k in seasons[0]["evaluation"]["mutation_pick"]:
        axes[1].plot(x, [r["evaluation"]["mutation_pick"][k]["precision@10"] for r in seasons], marker="o",
                     lw=2.5 if k.startswith("genolm") else 1.2, label=k)
    axes[1].plot(x, [r["evaluation"]["precision@10_ceiling"] for r in seasons], color="black", ls=":", label="ceiling")
    axes[1].set_title("mutation pick: precision@10")
    for ax in axes:
        ax.set_xlabel("forecast season")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _set_colors(names: list[str]) -> dict[str, str]:
    order = list(dict.fromkeys(names))
    palette = ["#4d4d4d", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
    return {n: palette[i % len(palette)] for i, n in enumerate(order)}


def viability_spectra(spec6: np.ndarray, names: list[str], in_a, in_b, summary: list[dict], path: Path) -> None:
    """6-mer frequency of each set (and reference half B) against reference half A, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genolm.io.atomic import atomic_file

    labels = [row["set"] for row in summary]
    base = spec6[in_a].sum(0) / max(spec6[in_a].sum(), 1)
    fig, axes = plt.subplots(1, len(labels), figsize=(3.6 * len(labels), 3.6), squeeze=False)
    colors = _set_colors(labels)
    names = np.asarray(names)
    for ax, row in zip(axes[0], summary):
        mask = in_b if row["set"] == "reference" else names == row["set"]
        y = spec6[mask].sum(0) / max(spec6[mask].sum(), 1)
        floor = 0.5 / max(spec6[in_a].sum(), 1)
        ax.loglog(np.maximum(base, floor), np.maximum(y, floor), ".", ms=2, alpha=0.4, color=colors[row["set"]])
        lim = [floor, max(base.max(), y.max()) * 1.2]
        ax.plot(lim, lim, "k-", lw=0.6)
        title = "reference B" if row["set"] == "reference" else row["set"]
        ax.set_title(f"{title}\nJS6 {row['js6_pooled']:.4f} ({row['js6_ratio']:.2f}x)", fontsize=9)
        ax.set_xlabel("6-mer frequency, reference A", fontsize=8)
    axes[0][0].set_ylabel("6-mer frequency", fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def viability_gene_maps(names, ids, seqs, genes, per_set: int, path: Path) -> None:
    """Genes (arrows by strand) along the first ``per_set`` sequences of every set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genolm.io.atomic import atomic_file

    picks = []
    for name in dict.fromkeys(names):
        picks += [i for i, n in enumerate(names) if n == name][:per_set]
    colors = _set_colors(list(names))
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(picks) + 0.8))
    for row, i in enumerate(picks):
        y = len(picks) - row
        ax.plot([0, len(seqs[i])], [y, y], color="0.7", lw=1)
        for g in genes[i]:
            lo, hi = (g.start, g.end) if g.strand == 1 else (g.end, g.start)
            ax.annotate("", xy=(hi, y), xytext=(lo, y), arrowprops=dict(arrowstyle="-|>", lw=4,
                        color=colors[names[i]], alpha=0.8, shrinkA=0, shrinkB=0, mutation_scale=8))
    ax.set_yticks(range(len(picks), 0, -1), [f"{names[i]} {ids[i][-30:]}" for i in picks], fontsize=7)
    ax.set_xlabel("position (bases); arrows: genes called by pyrodigal (meta mode), by strand")
    ax.set_xlim(0, max(len(seqs[i]) for i in picks))
    ax.set_ylim(0.3, len(picks) + 0.7)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def viability_distributions(table: dict, names: list[str], limits: dict, path: Path) -> None:
    """Histogram of each statistic per set, with the passing range dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genolm.io.atomic import atomic_file

    stats = [s for s in list(limits) + ["genolm_bpb", "longest_match"] if s in table]
    cols = 4
    rows = math.ceil(len(stats) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    names = np.asarray(names)
    colors = _set_colors(list(names))
    for ax, stat in zip(axes.flat, stats):
        v = np.asarray(table[stat], float)
        fin = v[np.isfinite(v)]
        edges = np.histogram_bin_edges(fin, 30) if len(fin) and np.ptp(fin) > 0 else 10
        for name in dict.fromkeys(names):
            x = v[(names == name) & np.isfinite(v)]
            if len(x):
                ax.hist(x, bins=edges, density=True, histtype="step", lw=1.4, color=colors[name], label=name)
        for key in ("low", "high"):
            if stat in limits and limits[stat][key] is not None:
                ax.axvline(limits[stat][key], color="k", ls="--", lw=0.8)
        ax.set_title(stat, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(stats):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
