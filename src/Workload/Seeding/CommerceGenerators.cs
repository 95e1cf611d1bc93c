using System.Globalization;
using static Peeq.Cdc.Workload.Seeding.SeedUniverse;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>stripe-db, subscriptions-db, wallet-db, transaction-db and inventory-db (→ peeq_commerce).</summary>
internal static class CommerceGenerators
{
    private static readonly ulong KRate = Prng.Kind("stripe.rate");
    private static readonly ulong KPlan = Prng.Kind("subscriptions.plan");
    private static readonly ulong KSeries = Prng.Kind("subscriptions.series");
    private static readonly ulong KItemExtra = Prng.Kind("inventory.extra");
    private static readonly ulong KItemHistory = Prng.Kind("inventory.history");
    private static readonly ulong KPurchase = Prng.Kind("transaction.purchase");
    private static readonly ulong KCheckout = Prng.Kind("transaction.checkout");
    private static readonly ulong KWalletEvent = Prng.Kind("wallet.event");
    private static readonly ulong KWallet = Prng.Kind("wallet.balance");

    // ------------------------------------------------------------------ stripe-db

    public static long PlannedStripe(SeedUniverse u) => u.ExchangeRates;

    public static void Stripe(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("exchange_rates", "id, name, from_currency, to_currency, price, amount, keywords, meta_data, created_on, last_modified_on, deleted_on", w =>
        {
            for (var x = 0; x < u.ExchangeRates; x++)
            {
                var r = u.Rng(KRate, x);
                var tokens = r.Pick(new[] { 100, 500, 1_000, 2_500, 5_000, 10_000, 50_000 });
                var price = Math.Round(tokens * (0.008m + r.Int(0, 40) / 10_000m), 2);
                var created = Time((double)x / u.ExchangeRates * 0.95, ref r);
                var deleted = x % 13 == 5;
                if (deleted)
                {
                    a.Add(Anomalies.DeletedRate);
                }

                var tier = r.Pick(new[] { "bronze", "silver", "gold", "platinum" });
                w.Row();
                w.Uuid(r.Uuid());
                w.Text($"{tokens.ToString("N0", CultureInfo.InvariantCulture)} tokens ({tier})");
                w.Text(r.Pick(new[] { "USD", "USD", "USD", "EUR", "GBP" }));
                w.Text(r.Chance(0.85) ? "TKN" : "USD");
                w.Numeric(price);
                w.Int(tokens);
                w.TextArray(r.Chance(0.8) ? ["tokens", tier, r.Pick(Words.Sports)] : null);
                w.Jsonb(r.Chance(0.7) ? $$"""{"stripe_price_id": "price_{{r.Hex(8)}}", "bonus_percent": {{r.Int(0, 20)}}}""" : null);
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.4) ? After(created, ref r, 0.2) : null);
                w.TimestampTz(deleted ? After(created, ref r, 0.5) : null);
            }
        });
    }

    // ------------------------------------------------------------------ subscriptions-db

    public static long PlannedSubscriptions(SeedUniverse u) => u.Subscriptions + u.Series;

    public static void Subscriptions(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("subscriptions", "id, name, description, recurring_payment, auto_expires, created_by_id, created_on, last_modified_on", w =>
        {
            for (var s = 0; s < u.Subscriptions; s++)
            {
                var r = u.Rng(KPlan, s);
                var unnamed = s % 25 == 7;
                var noCreator = s % 30 == 11;
                if (unnamed)
                {
                    a.Add(Anomalies.NullPlanName);
                }

                if (noCreator)
                {
                    a.Add(Anomalies.NullPlanCreator);
                }

                var created = Time((double)s / u.Subscriptions * 0.9, ref r);
                w.Row();
                w.Uuid(u.SubscriptionId(s));
                w.Text(unnamed ? null : $"{Words.Title(ref r)} club");
                w.Text(r.Chance(0.7) ? Words.Sentence(ref r, r.Int(5, 20)) : null);
                w.Text(r.Int(10) switch { < 7 => "MONTHLY", < 9 => "YEARLY", _ => null });
                w.Int(r.Chance(0.6) ? r.Pick(new[] { 30, 90, 365 }) : null);
                w.Uuid(noCreator ? null : u.RandomCelebrity(ref r));
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.4) ? After(created, ref r, 0.2) : null);
            }
        });

        l.Copy("series", "id, name, description, created_by_id, created_on, last_modified_on", w =>
        {
            for (var s = 0; s < u.Series; s++)
            {
                var r = u.Rng(KSeries, s);
                var unnamed = s % 25 == 9;
                if (unnamed)
                {
                    a.Add(Anomalies.NullSeriesName);
                }

                var created = Time((double)s / u.Series * 0.9, ref r);
                w.Row();
                w.Uuid(u.SeriesId(s));
                w.Text(unnamed ? null : $"{Words.Title(ref r)} series");
                w.Text(r.Chance(0.6) ? Words.Sentence(ref r, r.Int(5, 20)) : null);
                w.Uuid(u.RandomCelebrity(ref r));
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.4) ? After(created, ref r, 0.2) : null);
            }
        });
    }

    // ------------------------------------------------------------------ inventory-db

    public static long PlannedInventory(SeedUniverse u) => u.Items * 35L / 10;

    public static void Inventory(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("inventory_item", "id, item_id, type, state, price, quantity, created_by_id, currency, associated_series, associated_subscriptions, associated_tags, keywords, restricted_users, recurring_payment, auto_expires, is_refundable, limit_per_fan, metadata, created_on", w =>
        {
            for (var i = 0; i < u.Items; i++)
            {
                var item = u.Item(i);
                var r = u.Rng(KItemExtra, i);
                if (item.Price > MaxIntCents)
                {
                    a.Add(Anomalies.ItemPriceBeyondInt);
                }

                if (i % 97 == 13)
                {
                    a.Add(Anomalies.ItemOfUnknownCreator);
                }

                Guid[]? series = item.Type is "SUBSCRIPTION" or "CLASS" && r.Chance(0.6)
                    ? Enumerable.Range(0, r.Int(1, 3)).Select(_ => u.SeriesId(r.Int(u.Series))).Distinct().ToArray()
                    : null;
                Guid[]? plans = item.Type == "SUBSCRIPTION" ? Enumerable.Range(0, r.Int(1, 2)).Select(_ => u.SubscriptionId(r.Int(u.Subscriptions))).Distinct().ToArray() : null;
                var tags = r.Chance(0.2) ? null : Enumerable.Range(0, r.Int(0, 4)).Select(_ => u.TagId(r.Int(u.Tags))).Distinct().ToList();
                if (i % 40 == 13)
                {
                    tags = [.. tags ?? [], u.DeletedTagId(i)];
                    a.Add(Anomalies.ItemWithUnknownTag);
                }

                string[]? keywords = r.Chance(0.7) ? [r.Pick(Words.Sports), r.Pick(Words.Nouns), item.Type.ToLowerInvariant()] : null;
                Guid[]? restricted = r.Chance(0.05) ? Enumerable.Range(0, r.Int(1, 3)).Select(_ => u.FanId(r.Int(u.Fans))).Distinct().ToArray() : null;
                var subscription = item.Type == "SUBSCRIPTION";
                var sku = r.Hex(4);
                w.Row();
                w.Uuid(item.Id);
                w.Text(item.ItemId);
                w.Text(item.Type);
                w.Text(item.State);
                w.Numeric(item.Price);
                w.Int(item.Quantity);
                w.Uuid(item.CreatedBy);
                w.Text(item.Currency);
                w.UuidArray(series);
                w.UuidArray(plans);
                w.UuidArray(tags?.ToArray());
                w.VarcharArray(keywords);
                w.UuidArray(restricted);
                w.Text(subscription ? r.Chance(0.7) ? "MONTHLY" : "YEARLY" : null);
                w.Int(subscription && r.Chance(0.5) ? r.Pick(new[] { 30, 90, 365 }) : null);
                w.Bool(r.Chance(0.8));
                w.Int(r.Chance(0.3) ? r.Int(1, 10) : null);
                w.Jsonb(r.Chance(0.6) ? $$"""{"sku": "{{sku}}", "fulfilment": "{{(item.Type == "PRODUCT" ? "shipping" : "digital")}}"}""" : null);
                w.TimestampTz(item.CreatedOn);
            }
        });

        History(l, u, "inventory_item_price_history", 0, item => item.Prices.Length, (w, item, k) =>
        {
            w.Numeric(item.Prices[k - 1]);
            w.Numeric(item.Prices[k]);
            w.TimestampTz(item.PriceChangedOn[k]);
        });
        History(l, u, "inventory_item_quantity_history", 1, item => item.Quantities.Length, (w, item, k) =>
        {
            w.Int(item.Quantities[k - 1]);
            w.Int(item.Quantities[k]);
            w.TimestampTz(item.QuantityChangedOn[k]);
        });
        History(l, u, "inventory_item_state_history", 2, item => item.States.Length, (w, item, k) =>
        {
            w.Text(item.States[k - 1]);
            w.Text(item.States[k]);
            w.TimestampTz(item.StateChangedOn[k]);
        });
    }

    /// <summary>One history row per step of a chain (the service writes none on creation).</summary>
    private static void History(DatabaseLoader l, SeedUniverse u, string table, int which, Func<ItemInfo, int> steps, Action<TableCopy, ItemInfo, int> values)
    {
        l.Copy(table, "id, inventory_item_id, old_value, new_value, changed_on", w =>
        {
            for (var i = 0; i < u.Items; i++)
            {
                var item = u.Item(i);
                var r = u.Rng(KItemHistory, i * 3L + which);
                for (var k = 1; k < steps(item); k++)
                {
                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(item.Id);
                    values(w, item, k);
                }
            }
        });
    }

    // ------------------------------------------------------------------ transaction-db

    public static long PlannedTransaction(SeedUniverse u) => u.Purchases;

    public static void Transaction(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("transactions", "id, user_id, item_id, purchase_id, price, quantity, currency, status, created_by_id, created_on", w =>
        {
            var checkout = Guid.Empty;
            for (var p = 0; p < u.Purchases; p++)
            {
                var r = u.Rng(KPurchase, p);
                var c = u.Rng(KCheckout, p);
                if (p == 0 || c.Chance(0.7))
                {
                    checkout = c.Uuid();
                }

                var buyer = u.AnyUser(ref r);
                Guid? itemId;
                decimal price;
                string currency;
                DateTime created;
                if (p % 199 == 3)
                {
                    itemId = r.Uuid();
                    price = r.Int(100, 10_000) / 100m;
                    currency = "USD";
                    created = Time((double)p / u.Purchases, ref r);
                    a.Add(Anomalies.PurchaseOfUnknownItem);
                }
                else if (p % 211 == 5)
                {
                    itemId = null;
                    price = r.Pick(new[] { 10m, 25m, 50m, 100m });
                    currency = "USD";
                    created = Time((double)p / u.Purchases, ref r);
                    a.Add(Anomalies.NullPurchaseItem);
                }
                else
                {
                    var item = u.Item(r.Int(u.Items));
                    for (var attempt = 0; item.Prices.Length == 0 && attempt < 20; attempt++)
                    {
                        item = u.Item(r.Int(u.Items));
                    }

                    itemId = item.Id;
                    created = After(item.CreatedOn, ref r);
                    // The unit price in effect when the purchase was made, per the item's price history.
                    var k = 0;
                    while (k + 1 < item.Prices.Length && item.PriceChangedOn[k + 1] <= created)
                    {
                        k++;
                    }

                    price = item.Prices.Length == 0 ? 9.99m : item.Prices[k];
                    currency = item.Currency;
                }

                if (price > MaxIntCents)
                {
                    a.Add(Anomalies.PurchasePriceBeyondInt);
                }

                var s = r.Int(100);
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(buyer);
                w.Uuid(itemId);
                w.Uuid(checkout);
                w.Numeric(price);
                w.Int(r.Chance(0.85) ? 1 : r.Int(2, 5));
                w.Text(currency);
                w.Text(s < 92 ? "COMPLETED" : s < 94 ? "PENDING" : s < 97 ? "FAILED" : "REFUNDED");
                w.Uuid(r.Chance(0.97) ? buyer : null);
                w.TimestampTz(created);
            }
        });
    }

    // ------------------------------------------------------------------ wallet-db

    /// <summary>Never a real item_id: those are &lt;TYPE&gt;-&lt;base36 index&gt;-&lt;slug&gt; with far fewer items than "deleted" in base 36.</summary>
    private const string UnknownItemPrefix = "CONTENT-deleted-";

    public static long PlannedWallet(SeedUniverse u) => u.Wallets + u.WalletEvents * 12L / 10;

    /// <summary>
    /// The wallet's history as one sequence of movements (ids are the bigserial order), the balances
    /// accumulated exactly as the movements go, and then the balance rows: equal to the sum of their
    /// movements except the mismatching few.
    /// </summary>
    public static void Wallet(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        var wallets = u.Wallets;
        var balances = new decimal[wallets];
        var lastActivity = new DateTime[wallets];
        var links = new List<(long From, long To, string Type)>();
        var recent = new List<(long Id, int Wallet, decimal Amount, string? ItemId)>();
        var refunded = new HashSet<long>();
        long nextId = 1;

        l.Copy("create_transaction", "id, user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type", w =>
        {
            long Emit(Guid user, int wallet, decimal amount, bool debit, string? item, string description, string? meta, DateTime at, string type)
            {
                var id = nextId++;
                w.Row();
                w.Long(id);
                w.Uuid(user);
                w.Numeric(amount);
                w.Bool(debit);
                w.Text(item);
                w.Text(description);
                w.Jsonb(meta);
                w.TimestampTz(at);
                w.Text(type);
                if (amount != decimal.Truncate(amount * 100) / 100)
                {
                    a.Add(Anomalies.SubCentAmount);
                }

                if (item is not null && item.StartsWith(UnknownItemPrefix, StringComparison.Ordinal))
                {
                    // Purchases of a deleted item, and refunds of those purchases.
                    a.Add(Anomalies.WalletTxOfUnknownItem);
                }

                if (wallet >= 0)
                {
                    balances[wallet] += debit ? -amount : amount;
                    lastActivity[wallet] = at;
                }

                return id;
            }

            decimal Money(ref Prng r, int minCents, int maxCents, double subCent) =>
                r.Chance(subCent) ? (r.Int(minCents, maxCents) * 100L + r.Int(1, 99)) / 10_000m : r.Int(minCents, maxCents) / 100m;

            void TopUpFor(int wallet, decimal needed, DateTime at, ref Prng r)
            {
                if (balances[wallet] < needed)
                {
                    var amount = decimal.Ceiling(needed - balances[wallet]) + r.Int(0, 50);
                    Emit(u.WalletUser(wallet), wallet, amount, false, null, "Automatic top-up", $$"""{"provider": "stripe", "charge": "ch_{{r.Hex(8)}}", "auto": true}""", at, "CREDIT");
                }
            }

            // Treasury wallets: funded beyond what INT cents can hold.
            for (var t = wallets > 250 ? 250 : wallets / 2; t < wallets; t += 500)
            {
                var r = u.Rng(KWallet, 1_000_000_000L + t);
                Emit(u.WalletUser(t), t, 30_000_000.00m, false, null, "Treasury funding", """{"provider": "wire"}""", Time(0.01, ref r), "CREDIT");
            }

            for (var j = 0; j < u.WalletEvents; j++)
            {
                var r = u.Rng(KWalletEvent, j);
                var at = Time(0.02 + (double)j / u.WalletEvents * 0.97, ref r);
                var wallet = r.Int(wallets);
                var user = u.WalletUser(wallet);
                var p = r.Int(100);
                if (p >= 96)
                {
                    // A movement of a user who has no wallet row (the wallet was never created).
                    var ghost = u.GhostUserId(5_000_000L + j);
                    Emit(ghost, -1, Money(ref r, 100, 5_000, 0), r.Chance(0.5), null, "Legacy import", """{"source": "migration-2020"}""", at, "CREDIT");
                    a.Add(Anomalies.WalletTxWithoutWallet);
                    continue;
                }

                if (p >= 88 && p < 93 && recent.Count > 0)
                {
                    var (pid, pw, pamount, pitem) = recent[r.Int(recent.Count)];
                    if (refunded.Add(pid))
                    {
                        var rid = Emit(u.WalletUser(pw), pw, pamount, false, pitem, "Refund", $$"""{"refund_of": {{pid}}}""", at, "REFUND");
                        links.Add((rid, pid, "REFUND_OF"));
                        continue;
                    }
                }

                if (p < 35 || p >= 88)
                {
                    Emit(user, wallet, Money(ref r, 500, 20_000, 0.04), false, null, "Wallet top-up", $$"""{"provider": "stripe", "charge": "ch_{{r.Hex(8)}}"}""", at, "CREDIT");
                }
                else if (p < 70 || p >= 93)
                {
                    var item = u.Item(r.Int(u.Items));
                    for (var attempt = 0; attempt < 20 && !(item.Price is > 0 and <= 5_000); attempt++)
                    {
                        item = u.Item(r.Int(u.Items));
                    }

                    var amount = item.Price is > 0 and <= 5_000 ? item.Price.Value : 9.99m;
                    var itemId = j % 67 == 5 ? $"{UnknownItemPrefix}{Words.Base36(j)}" : item.ItemId;

                    TopUpFor(wallet, amount, at, ref r);
                    if (p >= 93)
                    {
                        // A purchase paid in two parts: the second row is split from the first.
                        var first = Math.Round(amount * r.Int(30, 70) / 100, 2);
                        var id1 = Emit(user, wallet, first, true, itemId, $"Purchase {itemId} (part 1)", null, at, "PURCHASE");
                        var id2 = Emit(user, wallet, amount - first, true, itemId, $"Purchase {itemId} (part 2)", null, at.AddTicks(10), "PURCHASE");
                        links.Add((id2, id1, "SPLIT_FROM"));
                    }
                    else
                    {
                        var id = Emit(user, wallet, amount, true, itemId, $"Purchase {itemId}", $$"""{"channel": "{{r.Pick(new[] { "ios", "android", "web" })}}"}""", at, "PURCHASE");
                        recent.Add((id, wallet, amount, itemId));
                        if (recent.Count > 256)
                        {
                            recent.RemoveAt(0);
                        }
                    }
                }
                else if (p < 78)
                {
                    var amount = Money(ref r, 100, 5_000, 0.04);
                    TopUpFor(wallet, amount, at, ref r);
                    Emit(user, wallet, amount, true, null, r.Chance(0.5) ? "Payout" : "Service fee", null, at, "DEBIT");
                }
                else
                {
                    var to = r.Int(wallets);
                    if (to == wallet)
                    {
                        to = (to + 1) % wallets;
                    }

                    var amount = r.Int(100, 10_000) / 100m;
                    TopUpFor(wallet, amount, at, ref r);
                    var toUser = u.WalletUser(to);
                    var debit = Emit(user, wallet, amount, true, null, "Transfer sent", $$"""{"to": "{{toUser}}"}""", at, "TRANSFER");
                    var credit = Emit(toUser, to, amount, false, null, "Transfer received", $$"""{"from": "{{user}}"}""", at, "TRANSFER");
                    links.Add((debit, credit, "TRANSFER_PAIR"));
                }
            }
        });

        l.Copy("create_transaction_related_transactions", "create_transaction_id, related_transaction_id, relation_type", w =>
        {
            foreach (var (from, to, type) in links)
            {
                w.Row();
                w.Long(from);
                w.Long(to);
                w.Text(type);
            }
        });

        l.Copy("balance_transaction", "id, user_id, balance, currency, updated_at", w =>
        {
            for (var wallet = 0; wallet < wallets; wallet++)
            {
                var r = u.Rng(KWallet, wallet);
                var balance = balances[wallet];
                if (wallet % 150 == 17)
                {
                    // Drift between the balance and its movements: a lost update, a manual fix never booked.
                    var delta = r.Int(1, 5_000) / 100m;
                    balance += balance >= delta && r.Chance(0.5) ? -delta : delta;
                    a.Add(Anomalies.BalanceMismatch);
                }

                if (balance != decimal.Truncate(balance * 100) / 100)
                {
                    a.Add(Anomalies.SubCentBalance);
                }

                if (balance > MaxIntCents)
                {
                    a.Add(Anomalies.BalanceBeyondInt);
                }

                var updated = lastActivity[wallet] == default ? Time(r.Double(), ref r) : lastActivity[wallet];
                w.Row();
                w.Long(wallet + 1L);
                w.Uuid(u.WalletUser(wallet));
                w.Numeric(balance);
                w.Text(wallet % 20 == 19 ? "EUR" : "USD");
                w.TimestampTz(updated);
            }
        });
    }
}
