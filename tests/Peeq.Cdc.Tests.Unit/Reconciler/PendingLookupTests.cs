using Peeq.Cdc.Contracts;
using Peeq.Cdc.Reconciler.Reports;
using Peeq.Cdc.Reconciler.Rows;

namespace Peeq.Cdc.Tests.Unit.Reconciler;

/// <summary>
/// A changed row whose differing columns the target holds NULL with a pending lookup for them is in flight
/// (the Sink fills it in when the identity arrives, or at its sweep for another target), not a difference.
/// </summary>
public sealed class PendingLookupTests
{
    private const string Key = "6f1c2b1e-0000-4000-8000-000000000001";

    private static Candidate Changed(params ColumnDifference[] columns) =>
        new(DifferenceKind.Changed, Key, $$"""{"id":"{{Key}}"}""", [Key], $$"""{"id":"{{Key}}"}""", null, new ActualRow(Key, [], Lsn.Zero), [.. columns]);

    private static Dictionary<string, List<(string Column, string Kind, string Key, string? Target)>> Pending(params string[] columns) =>
        new() { [Key] = [.. columns.Select(c => (c, "inventory_item_by_item_id", "item-7", (string?)"peeq_commerce"))] };

    [Fact]
    public void a_null_column_with_its_lookup_pending_is_in_flight()
    {
        var note = PairComparer.LookupInFlight(Changed(new ColumnDifference("inventory_item_id", "0b6a…", null)), Pending("inventory_item_id"));
        Assert.NotNull(note);
        Assert.Contains("lookup pending", note, StringComparison.Ordinal);
        Assert.Contains("inventory_item_by_item_id item-7 in target peeq_commerce", note, StringComparison.Ordinal);
    }

    [Fact]
    public void without_a_pending_lookup_it_stays_a_difference() =>
        Assert.Null(PairComparer.LookupInFlight(Changed(new ColumnDifference("inventory_item_id", "0b6a…", null)), []));

    [Fact]
    public void a_value_the_sink_wrote_is_never_explained_by_a_pending_lookup() =>
        Assert.Null(PairComparer.LookupInFlight(Changed(new ColumnDifference("inventory_item_id", "0b6a…", "ffff…")), Pending("inventory_item_id")));

    [Fact]
    public void another_differing_column_keeps_the_row_a_difference() =>
        Assert.Null(PairComparer.LookupInFlight(
            Changed(new ColumnDifference("inventory_item_id", "0b6a…", null), new ColumnDifference("name", "a", "b")), Pending("inventory_item_id")));
}
