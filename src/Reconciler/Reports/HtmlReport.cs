using System.Globalization;
using System.Net;
using System.Text;

namespace Peeq.Cdc.Reconciler.Reports;

/// <summary>
/// The report finance reads: the verdict first, then one section per target database (counts with
/// fan-in totals, checksums), the balance checks, the observations, the dangling references and the
/// parked rows, then the differences themselves. One self-contained file (embedded CSS, no scripts, no
/// external assets) that prints cleanly. Every headline number carries a <c>data-total</c> attribute
/// holding the same value as the JSON report's <c>totals</c>.
/// </summary>
public static class HtmlReport
{
    public static string Render(ReconciliationReport r)
    {
        var h = new StringBuilder(64 * 1024);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        h.Append("<title>Reconciliation ").Append(E(r.RunId)).Append(" — ").Append(E(Word(r.Verdict))).Append("</title>");
        h.Append("<style>").Append(Css).Append("</style></head><body>");
        h.Append("<header class=\"verdict v-").Append(Key(r.Verdict)).Append("\" id=\"verdict\" data-verdict=\"").Append(Key(r.Verdict)).Append("\">");
        h.Append("<div class=\"big\">").Append(E(Headline(r))).Append("</div>");
        h.Append("<div class=\"sub\">Run ").Append(E(r.RunId)).Append(" · ").Append(E(r.StartedAt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)))
            .Append(" UTC · ").Append(E((r.FinishedAt - r.StartedAt).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture))).Append(" s · ")
            .Append(r.Rounds).Append(r.Rounds == 1 ? " round" : " rounds").Append("</div></header>");

        var t = r.Totals;
        h.Append("<section><h2>Summary</h2><table class=\"totals\"><tbody>");
        Total(h, "Table pairs compared (source table → target table)", "table_pairs", t.TablePairs);
        Total(h, "Table pairs matching", "table_pairs_clean", t.TablePairsClean);
        Total(h, "Rows expected from the mapped sources", "rows_expected", t.RowsExpected);
        Total(h, "Rows in the target tables", "rows_in_target", t.RowsInTarget);
        Total(h, "Real differences (rows)", "differences", t.Differences, t.Differences > 0 ? "bad" : null);
        Total(h, "Unresolved (kept moving through every re-check)", "unresolved", t.Unresolved, t.Unresolved > 0 ? "warn" : null);
        Total(h, "Target rows no configured source owns", "unattributed_rows", t.UnattributedRows, t.UnattributedRows > 0 ? "bad" : null);
        Total(h, "Parked rows (absent on purpose, listed below)", "parked", t.Parked, t.Parked > 0 ? "warn" : null);
        Total(h, "Shadowed claims (absent on purpose)", "shadowed", t.Shadowed);
        Total(h, "Balance checks", "balance_checks", t.BalanceChecks);
        Total(h, "Balance groups that differ", "balance_differences", t.BalanceDifferences, t.BalanceDifferences > 0 ? "bad" : null);
        Total(h, "Balance groups unresolved", "balance_unresolved", t.BalanceUnresolved, t.BalanceUnresolved > 0 ? "warn" : null);
        Total(h, "Observations (invariants broken, source or target)", "observations", t.Observations);
        Total(h, "Dangling references (rows)", "dangling_references", t.DanglingReferences);
        Total(h, "… parent still in flight", "dangling_in_flight", t.DanglingInFlight);
        Total(h, "… orphaned in the legacy data too", "dangling_orphaned", t.DanglingOrphaned);
        h.Append("</tbody></table>");
        if (r.Errors.Count > 0)
        {
            h.Append("<div class=\"box bad\"><h3>Errors</h3><ul>");
            foreach (var e in r.Errors)
            {
                h.Append("<li>").Append(E(e)).Append("</li>");
            }

            h.Append("</ul></div>");
        }

        if (r.Notes.Count > 0)
        {
            h.Append("<div class=\"box\"><h3>Notes</h3><ul>");
            foreach (var n in r.Notes)
            {
                h.Append("<li>").Append(E(n)).Append("</li>");
            }

            h.Append("</ul></div>");
        }

        h.Append("</section>");

        foreach (var target in r.TableTotals.Select(x => x.Target).Concat(r.Counts.Select(c => c.Target)).Distinct().OrderBy(x => x, StringComparer.Ordinal))
        {
            h.Append("<section class=\"domain\"><h2>Target ").Append(E(target)).Append("</h2>");
            h.Append("<h3>Rows per table (fan-in totals)</h3><table><thead><tr><th>Target table</th><th>Sources</th><th class=\"n\">Expected</th><th class=\"n\">Owned by compared sources</th><th class=\"n\">Owned by none</th><th class=\"n\">Rows in table</th><th>Verdict</th><th>Note</th></tr></thead><tbody>");
            foreach (var x in r.TableTotals.Where(x => x.Target == target))
            {
                h.Append("<tr class=\"total\"><td>").Append(E(x.TargetTable)).Append("</td><td class=\"n\">").Append(x.Sources).Append("</td>")
                    .Append(N(x.ExpectedRows)).Append(N(x.AttributedRows)).Append(N(x.UnattributedRows)).Append(N(x.TotalRows))
                    .Append(V(x.Verdict)).Append("<td>").Append(E(x.Note)).Append("</td></tr>");
                foreach (var c in r.Counts.Where(c => c.Target == target && c.TargetTable == x.TargetTable))
                {
                    h.Append("<tr class=\"part\"><td>↳ ").Append(E($"{c.Source} {c.SourceTable}")).Append("</td><td></td>").Append(N(c.SourceRows)).Append(N(c.TargetRows))
                        .Append("<td></td><td></td>").Append(V(c.Verdict)).Append("<td>").Append(E(c.Note)).Append("</td></tr>");
                }
            }

            h.Append("</tbody></table>");
            h.Append("<h3>Checksums per key range</h3><table><thead><tr><th>Source table</th><th>Target table</th><th class=\"n\">Ranges</th><th class=\"n\">Differing</th><th class=\"n\">Rows compared</th><th class=\"n\">Missing</th><th class=\"n\">Extra</th><th class=\"n\">Changed</th><th class=\"n\">Unresolved</th><th class=\"n\">Parked</th><th>Digest (mapped source / target)</th><th>Verdict</th></tr></thead><tbody>");
            foreach (var c in r.Checksums.Where(c => c.Target == target))
            {
                h.Append("<tr><td>").Append(E($"{c.Source} {c.SourceTable}")).Append("</td><td>").Append(E(c.TargetTable)).Append("</td>")
                    .Append(N(c.Ranges)).Append(N(c.RangesDiffering)).Append(N(c.RowsCompared)).Append(N(c.Missing)).Append(N(c.Extra)).Append(N(c.Changed))
                    .Append(N(c.Unresolved)).Append(N(c.Parked)).Append("<td class=\"mono\">").Append(E(c.ExpectedDigest)).Append("<br>").Append(E(c.TargetDigest)).Append("</td>")
                    .Append(V(c.Verdict)).Append("</tr>");
            }

            h.Append("</tbody></table></section>");
        }

        if (r.Balances.Count > 0)
        {
            h.Append("<section><h2>Balances</h2><p class=\"hint\">Sums computed on the legacy sources (added up across them) and on the targets, in exact decimal arithmetic; amounts the targets hold in cents are converted exactly.</p>");
            h.Append("<table><thead><tr><th>Check</th><th>Domain</th><th>Value</th><th class=\"n\">Source total</th><th class=\"n\">Target total</th><th class=\"n\">Groups</th><th class=\"n\">Differing</th><th class=\"n\">Unresolved</th><th>Verdict</th></tr></thead><tbody>");
            foreach (var b in r.Balances)
            {
                for (var i = 0; i < b.Values.Count; i++)
                {
                    h.Append("<tr><td>").Append(i == 0 ? $"<b>{E(b.Title)}</b><div class=\"hint\">{E(b.Description)}</div>" : "").Append("</td><td>").Append(E(b.Domain)).Append("</td><td>")
                        .Append(E(b.Values[i])).Append("</td><td class=\"n mono\">").Append(E(b.SourceTotals.ElementAtOrDefault(i))).Append("</td><td class=\"n mono\">")
                        .Append(E(b.TargetTotals.ElementAtOrDefault(i))).Append("</td>").Append(N(b.Groups)).Append(N(b.GroupsDiffering)).Append(N(b.GroupsUnresolved))
                        .Append(V(b.Verdict)).Append("</tr>");
                }
            }

            h.Append("</tbody></table>");
            var diffs = r.Balances.SelectMany(b => b.Differences).ToList();
            if (diffs.Count > 0)
            {
                h.Append("<h3>Balance differences</h3><table><thead><tr><th>Check</th><th>Group</th><th>Value</th><th class=\"n\">Source</th><th class=\"n\">Target</th><th class=\"n\">Target − source</th><th>Status</th></tr></thead><tbody>");
                foreach (var d in diffs)
                {
                    h.Append("<tr><td>").Append(E(d.Check)).Append("</td><td class=\"mono\">").Append(E(string.Join(", ", d.Group.Select(g => $"{g.Key}={g.Value}"))))
                        .Append("</td><td>").Append(E(d.Value)).Append("</td><td class=\"n mono\">").Append(E(d.Source)).Append("</td><td class=\"n mono\">").Append(E(d.Target))
                        .Append("</td><td class=\"n mono\">").Append(E(d.Delta)).Append("</td>").Append(S(d.Status)).Append("</tr>");
                }

                h.Append("</tbody></table>");
            }

            h.Append("</section>");
        }

        if (r.Invariants.Count > 0)
        {
            h.Append("<section><h2>Observations</h2><p class=\"hint\">Equalities that should hold inside one database. Breaks present in the legacy source too are legacy data as it is, not pipeline errors; breaks only in the target deserve a look.</p>");
            h.Append("<table><thead><tr><th>Invariant</th><th>Side</th><th class=\"n\">Rows</th><th class=\"n\">Broken</th><th class=\"n\">Only in target</th><th>Note</th></tr></thead><tbody>");
            foreach (var i in r.Invariants)
            {
                h.Append("<tr><td><b>").Append(E(i.Title)).Append("</b><div class=\"hint\">").Append(E(i.Description)).Append("</div></td><td>").Append(E(i.Side)).Append("</td>")
                    .Append(N(i.Rows)).Append(N(i.Breaks)).Append(N(i.TargetOnly)).Append("<td>").Append(E(i.Note)).Append("</td></tr>");
            }

            h.Append("</tbody></table>");
            var obs = r.Invariants.SelectMany(i => i.Observations).ToList();
            if (obs.Count > 0)
            {
                h.Append("<table><thead><tr><th>Invariant</th><th>Side</th><th>Group</th><th class=\"n\">Left</th><th class=\"n\">Right</th><th class=\"n\">Left − right</th><th>Also in source</th></tr></thead><tbody>");
                foreach (var o in obs)
                {
                    h.Append("<tr><td>").Append(E(o.Check)).Append("</td><td>").Append(E(o.Side)).Append("</td><td class=\"mono\">").Append(E(string.Join(", ", o.Group.Select(g => $"{g.Key}={g.Value}"))))
                        .Append("</td><td class=\"n mono\">").Append(E(o.Left)).Append("</td><td class=\"n mono\">").Append(E(o.Right)).Append("</td><td class=\"n mono\">").Append(E(o.Delta))
                        .Append("</td><td>").Append(o.AlsoInSource ? "yes" : "<b>no</b>").Append("</td></tr>");
                }

                h.Append("</tbody></table>");
            }

            h.Append("</section>");
        }

        if (r.References.Count > 0)
        {
            h.Append("<section><h2>Dangling references</h2><p class=\"hint\">To decide on before cutover, where these references become constraints. In flight: the parent exists in a legacy source and has not arrived yet. Orphaned: the parent is missing in the legacy data too.</p>");
            h.Append("<table><thead><tr><th>Reference</th><th>From → to</th><th class=\"n\">Rows</th><th class=\"n\">Missing parents</th><th class=\"n\">In flight</th><th class=\"n\">Orphaned</th><th class=\"n\">Excluded by mapping</th><th class=\"n\">Undetermined</th><th>Note</th></tr></thead><tbody>");
            foreach (var x in r.References)
            {
                h.Append("<tr><td>").Append(E(x.Name)).Append(x.CrossDatabase ? " <span class=\"tag\">cross-database</span>" : "").Append("</td><td class=\"mono\">").Append(E(x.From)).Append(" → ").Append(E(x.To))
                    .Append("</td>").Append(N(x.DanglingRows)).Append(N(x.DanglingValues)).Append(N(x.InFlight)).Append(N(x.Orphaned)).Append(N(x.Excluded)).Append(N(x.Undetermined))
                    .Append("<td>").Append(E(x.Note)).Append("</td></tr>");
            }

            h.Append("</tbody></table>");
            var samples = r.References.SelectMany(x => x.Samples).ToList();
            if (samples.Count > 0)
            {
                h.Append("<h3>Dangling rows (first of each kind; references.csv lists all)</h3><table><thead><tr><th>Reference</th><th>Child row</th><th>Missing parent</th><th>Class</th><th>Detail</th></tr></thead><tbody>");
                foreach (var s in samples)
                {
                    h.Append("<tr><td>").Append(E(s.Reference)).Append("</td><td class=\"mono\">").Append(E(s.ChildKey)).Append("</td><td class=\"mono\">").Append(E(s.Value))
                        .Append("</td><td>").Append(E(s.Class.Replace('_', ' '))).Append("</td><td>").Append(E(s.Detail)).Append("</td></tr>");
                }

                h.Append("</tbody></table>");
            }

            h.Append("</section>");
        }

        h.Append("<section><h2>Parked rows</h2>");
        if (r.Parked.Count == 0)
        {
            h.Append("<p>None.</p>");
        }
        else
        {
            h.Append("<table><thead><tr><th>Target</th><th class=\"n\">Id</th><th>Source</th><th>Source key</th><th>Target table</th><th>Reason</th><th>Parked at</th></tr></thead><tbody>");
            foreach (var p in r.Parked)
            {
                h.Append("<tr><td>").Append(E(p.Target)).Append("</td><td class=\"n\">").Append(p.Id).Append("</td><td>").Append(E($"{p.Source} {p.SourceTable}"))
                    .Append("</td><td class=\"mono\">").Append(E(p.SourceKey)).Append("</td><td>").Append(E(p.TargetTable)).Append("</td><td>").Append(E(p.Reason))
                    .Append(p.WholeTransaction ? " <span class=\"tag\">whole transaction</span>" : "").Append("</td><td>")
                    .Append(E(p.ParkedAt.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))).Append("</td></tr>");
            }

            h.Append("</tbody></table>");
        }

        h.Append("</section>");

        h.Append("<section><h2>Differences</h2>");
        if (r.Differences.Count == 0)
        {
            h.Append("<p>None.</p>");
        }
        else
        {
            h.Append("<p class=\"hint\">Located to the target key and the source row (origin) it comes from. differences.csv lists every one.</p>");
            h.Append("<table class=\"diffs\"><thead><tr><th>Status</th><th>Kind</th><th>Target table</th><th>Key</th><th>Source row</th><th>Column</th><th>Mapped source value</th><th>Target value</th><th>Why</th></tr></thead><tbody>");
            foreach (var d in r.Differences.OrderBy(d => d.Status).ThenBy(d => d.TargetTable, StringComparer.Ordinal))
            {
                var cols = d.Columns.Count == 0 ? [new ColumnDifference("", null, null)] : d.Columns;
                for (var i = 0; i < cols.Count; i++)
                {
                    h.Append("<tr class=\"s-").Append(d.Status.ToString().ToLowerInvariant()).Append("\">");
                    if (i == 0)
                    {
                        var span = cols.Count > 1 ? $" rowspan=\"{cols.Count}\"" : "";
                        h.Append("<td").Append(span).Append('>').Append(E(d.Status.ToString().ToLowerInvariant())).Append("</td><td").Append(span).Append('>')
                            .Append(E(d.Kind.ToString().ToLowerInvariant())).Append("</td><td").Append(span).Append('>').Append(E($"{d.Target} {d.TargetTable}"))
                            .Append("</td><td class=\"mono\"").Append(span).Append('>').Append(E(d.Key)).Append("</td><td class=\"mono\"").Append(span).Append('>')
                            .Append(E($"{d.Source} {d.SourceTable} {d.OriginKey}")).Append("</td>");
                    }

                    h.Append("<td>").Append(E(cols[i].Column)).Append("</td><td class=\"mono\">").Append(E(cols[i].Expected)).Append("</td><td class=\"mono\">").Append(E(cols[i].Actual)).Append("</td>");
                    if (i == 0)
                    {
                        h.Append("<td").Append(cols.Count > 1 ? $" rowspan=\"{cols.Count}\"" : "").Append('>').Append(E(d.Note)).Append("</td>");
                    }

                    h.Append("</tr>");
                }
            }

            h.Append("</tbody></table>");
        }

        h.Append("</section>");
        h.Append("<section><h2>Watermarks</h2><table><thead><tr><th>Round</th><th>Source</th><th>Method</th><th>Watermark</th><th>Applied</th><th>Reached</th><th class=\"n\">Waited (s)</th></tr></thead><tbody>");
        foreach (var w in r.Watermarks)
        {
            h.Append("<tr><td class=\"n\">").Append(w.Round).Append("</td><td>").Append(E(w.Source)).Append("</td><td>").Append(E(w.Method)).Append("</td><td class=\"mono\">")
                .Append(E(w.Watermark)).Append("</td><td class=\"mono\">").Append(E(w.Applied)).Append("</td><td>").Append(w.Reached ? "yes" : "<b>no</b>").Append("</td><td class=\"n\">")
                .Append(w.WaitedSeconds.ToString("0.0", CultureInfo.InvariantCulture)).Append("</td></tr>");
        }

        h.Append("</tbody></table></section>");
        h.Append("<footer>peeq-cdc reconcile · JSON: reconciliation.json · CSV: differences.csv, balances.csv, references.csv, parked.csv</footer>");
        h.Append("</body></html>\n");
        return h.ToString();
    }

    private static string Headline(ReconciliationReport r) => r.Verdict switch
    {
        Verdict.Clean => r.Totals.Parked + r.Totals.Shadowed > 0
            ? $"CLEAN — every source row is in its target ({r.Totals.Parked} parked, {r.Totals.Shadowed} shadowed, accounted for below)"
            : "CLEAN — every source row is in its target, every balance adds up",
        Verdict.Different => $"DIFFERENT — {r.Totals.Differences} row difference(s) and {r.Totals.BalanceDifferences} balance difference(s) need attention",
        Verdict.Unresolved => $"UNRESOLVED — no difference proven, but {r.Totals.Unresolved + r.Totals.BalanceUnresolved} item(s) kept moving through every re-check",
        _ => $"FAILED — the run could not complete ({r.Errors.Count} error(s))",
    };

    private static string Word(Verdict v) => v.ToString().ToUpperInvariant();

    private static string Key(Verdict v) => v.ToString().ToLowerInvariant();

    private static void Total(StringBuilder h, string label, string key, long value, string? cls = null) =>
        h.Append("<tr").Append(cls is null ? "" : $" class=\"{cls}\"").Append("><th>").Append(E(label)).Append("</th><td class=\"n\" data-total=\"").Append(key).Append("\">")
            .Append(value.ToString(CultureInfo.InvariantCulture)).Append("</td></tr>");

    private static string N(long v) => $"<td class=\"n\">{v.ToString("#,0", CultureInfo.InvariantCulture)}</td>";

    private static string V(Verdict v) => $"<td class=\"verdict-cell v-{Key(v)}\">{Key(v)}</td>";

    private static string S(DifferenceStatus s) => $"<td class=\"s-{s.ToString().ToLowerInvariant()}\">{s.ToString().ToLowerInvariant()}</td>";

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    private const string Css = """
        :root { --ok: #1b7f3b; --bad: #b3261e; --warn: #9a6700; --ink: #1f2328; --mute: #57606a; --line: #d0d7de; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1200px; padding: 24px; }
        h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
        h3 { font-size: 15px; margin: 18px 0 6px; }
        .verdict { border-radius: 8px; padding: 18px 22px; color: #fff; }
        .verdict .big { font-size: 22px; font-weight: 700; }
        .verdict .sub { opacity: .9; margin-top: 4px; }
        .verdict.v-clean { background: var(--ok); } .verdict.v-different, .verdict.v-failed { background: var(--bad); } .verdict.v-unresolved { background: var(--warn); }
        table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; font-size: 13px; }
        th, td { border: 1px solid var(--line); padding: 4px 7px; vertical-align: top; text-align: left; }
        thead th { background: #f6f8fa; }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
        table.totals { width: auto; min-width: 520px; } table.totals th { font-weight: normal; background: #fff; }
        tr.bad td, .s-different { color: var(--bad); font-weight: 600; } tr.warn td, .s-unresolved { color: var(--warn); font-weight: 600; }
        .verdict-cell.v-clean { color: var(--ok); } .verdict-cell.v-different, .verdict-cell.v-failed { color: var(--bad); font-weight: 700; } .verdict-cell.v-unresolved { color: var(--warn); font-weight: 700; }
        tr.total td { font-weight: 600; background: #fbfbfb; } tr.part td { color: var(--mute); }
        .hint { color: var(--mute); font-size: 12px; }
        .box { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 8px 0; } .box.bad { border-color: var(--bad); color: var(--bad); }
        .tag { font-size: 11px; border: 1px solid var(--line); border-radius: 10px; padding: 0 6px; color: var(--mute); white-space: nowrap; }
        footer { color: var(--mute); font-size: 12px; margin-top: 30px; }
        @media print {
          body { max-width: none; padding: 0; font-size: 11px; }
          .verdict { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
          section { break-inside: auto; } tr { break-inside: avoid; } thead { display: table-header-group; }
          h2 { break-after: avoid; }
        }
        """;
}
