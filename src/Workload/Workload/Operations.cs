using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Workload.Live;

/// <summary>The operations the legacy services perform, weighted roughly as the platform's traffic.</summary>
public sealed partial class LegacyWorkload
{
    private sealed record Operation(string Name, int Weight, Func<LegacyWorkload, Context, Task<bool>> Run);

    private static readonly Operation[] Mix =
    [
        new("fan: follow", 12, (w, c) => w.FollowAsync(c)),
        new("fan: unfollow", 6, (w, c) => w.UnfollowAsync(c)),
        new("fan: profile", 4, (w, c) => w.FanProfileAsync(c)),
        new("purchase", 12, (w, c) => w.PurchaseAsync(c)),
        new("wallet: credit", 8, (w, c) => w.CreditAsync(c)),
        new("wallet: debit", 4, (w, c) => w.DebitAsync(c)),
        new("wallet: transfer", 8, (w, c) => w.TransferAsync(c)),
        new("wallet: refund", 2, (w, c) => w.RefundAsync(c)),
        new("celebrity: profile", 5, (w, c) => w.CelebrityProfileAsync(c)),
        new("group-profile: edit", 2, (w, c) => w.GroupAsync(c)),
        new("inventory: price, stock, state", 5, (w, c) => w.InventoryAsync(c)),
        new("media: file", 5, (w, c) => w.MediaAsync(c)),
        new("content: file", 2, (w, c) => w.ContentAsync(c)),
        new("shoutout: stream", 2, (w, c) => w.ShoutoutAsync(c)),
        new("mux-livestream: stream", 1, (w, c) => w.LivestreamAsync(c)),
        new("stripe: exchange rate", 1, (w, c) => w.ExchangeRateAsync(c)),
        new("subscriptions: plan, series", 1, (w, c) => w.SubscriptionsAsync(c)),
        new("broadcast: broadcast", 2, (w, c) => w.BroadcastAsync(c)),
        new("stream: stream", 1, (w, c) => w.StreamAsync(c)),
        new("onsite-event: check-in, event", 3, (w, c) => w.OnsiteAsync(c)),
        new("class-catalog: badge, session", 2, (w, c) => w.ClassCatalogAsync(c)),
        new("notification-service: notification", 6, (w, c) => w.NotificationAsync(c)),
        new("message-board: message, member", 5, (w, c) => w.MessageBoardAsync(c)),
        new("sse: member", 2, (w, c) => w.SseAsync(c)),
        new("tags: tag", 1, (w, c) => w.TagAsync(c)),
        new("encryption: secret", 1, (w, c) => w.VaultAsync(c, "encryption")),
        new("dwolla: secret", 1, (w, c) => w.VaultAsync(c, "dwolla")),
    ];

    private static readonly int TotalWeight = Mix.Sum(m => m.Weight);

    private static readonly string[] CelebrityStatuses = ["ACTIVE", "PENDING", "SUSPENDED", "INACTIVE"];

    // ------------------------------------------------------------------ fan-db

    private async Task<bool> FollowAsync(Context c)
    {
        var fan = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        var celebrity = await ReadAsync<Guid?>("celebrity", PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id"), new { pickFrom = c.Uuid() });
        if (fan is not { } f || celebrity is not { } cel)
        {
            return false;
        }

        var id = UsersGenerators.FollowId(f, cel);
        var notifications = c.Pick(["""["EMAIL"]""", """["PUSH"]""", """["EMAIL", "PUSH"]""", "[]"]);
        return await InTransactionAsync("fan", async tx =>
        {
            var active = await tx.QueryAsync<bool?>("SELECT unfollowed_on IS NULL FROM fan_follows WHERE id = @id FOR UPDATE", new { id });
            string change;
            if (active is null)
            {
                await tx.InsertAsync("fan_follows", """
                    INSERT INTO fan_follows (id, fan_user_id, celeb_user_id, followed_on, unfollowed_on, notifications)
                    VALUES (@id, @f, @cel, @now, NULL, @notifications::jsonb)
                    """, new { id, f, cel, now = c.Now, notifications });
                change = $$"""{"action": "FOLLOW", "notifications": {{notifications}}}""";
            }
            else if (active == false)
            {
                await tx.UpdateAsync("fan_follows", "UPDATE fan_follows SET followed_on = @now, unfollowed_on = NULL, notifications = @notifications::jsonb WHERE id = @id",
                    new { id, now = c.Now, notifications });
                change = $$"""{"action": "FOLLOW", "notifications": {{notifications}}}""";
            }
            else
            {
                await tx.UpdateAsync("fan_follows", "UPDATE fan_follows SET notifications = @notifications::jsonb WHERE id = @id", new { id, notifications });
                change = $$"""{"action": "NOTIFICATIONS", "notifications": {{notifications}}}""";
            }

            await tx.InsertAsync("fan_follow_changes", "INSERT INTO fan_follow_changes VALUES (@f, @cel, @now, @change::jsonb)", new { f, cel, now = c.Now, change });
            return true;
        });
    }

    private async Task<bool> UnfollowAsync(Context c)
    {
        var id = await ReadAsync<string?>("fan", PickSql("fan_follows", "id", "id", "unfollowed_on IS NULL"), new { pickFrom = c.R.Hex(16) });
        if (id is null)
        {
            return false;
        }

        return await InTransactionAsync("fan", async tx =>
        {
            var pair = await tx.QueryAsync<(Guid Fan, Guid Celebrity)?>(
                "UPDATE fan_follows SET unfollowed_on = @now WHERE id = @id AND unfollowed_on IS NULL RETURNING fan_user_id, celeb_user_id", new { id, now = c.Now });
            if (pair is not { } p)
            {
                return false;
            }

            tx.Updated("fan_follows");
            await tx.InsertAsync("fan_follow_changes", """INSERT INTO fan_follow_changes VALUES (@fan, @cel, @now, '{"action": "UNFOLLOW"}')""",
                new { fan = p.Fan, cel = p.Celebrity, now = c.Now });
            return true;
        });
    }

    private async Task<bool> FanProfileAsync(Context c)
    {
        var p = c.Int(0, 99);
        if (p < 45)
        {
            var id = c.Uuid();
            var meta = $$"""{"nickname": "fan{{c.Int(0, 99_999)}}", "locale": "{{c.Pick(new[] { "en-US", "es-MX", "fr-FR", "ja-JP" })}}", "marketing_opt_in": false}""";
            return await InTransactionAsync("fan", tx => Done(tx.InsertAsync("fan_profiles",
                "INSERT INTO fan_profiles (fan_user_id, meta_data, created_on) VALUES (@id, @meta::jsonb, @now)", new { id, meta, now = c.Now })));
        }

        var fan = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        if (fan is null)
        {
            return false;
        }

        if (p < 90)
        {
            var locale = c.Pick(new[] { "en-US", "en-GB", "de-DE", "pt-BR", "ko-KR" });
            return await InTransactionAsync("fan", tx => Done(tx.UpdateAsync("fan_profiles",
                "UPDATE fan_profiles SET meta_data = coalesce(meta_data, '{}') || jsonb_build_object('locale', @locale::text), last_modified_on = @now WHERE fan_user_id = @fan",
                new { fan, locale, now = c.Now })));
        }

        // The account is closed; its follows stay behind (orphans the reconciler reports).
        return await InTransactionAsync("fan", tx => Done(tx.DeleteAsync("fan_profiles", "DELETE FROM fan_profiles WHERE fan_user_id = @fan", new { fan })));
    }

    // ------------------------------------------------------------------ commerce: purchases and wallets

    private sealed record ItemRow(Guid Id, string ItemId, decimal Price, int? Quantity, string Currency);

    private async Task<bool> PurchaseAsync(Context c)
    {
        var item = await ReadAsync<ItemRow>("inventory", PickSql("inventory_item", "id", "id, item_id AS ItemId, price, quantity, coalesce(currency, 'USD') AS currency",
            "state = 'ACTIVE' AND price > 0 AND price <= 2000 AND (quantity IS NULL OR quantity > 0)"), new { pickFrom = c.Uuid() });
        var walletUser = c.Chance(0.9);
        var buyer = walletUser
            ? await ReadAsync<Guid?>("wallet", PickSql("balance_transaction", "user_id", "user_id"), new { pickFrom = c.Uuid() })
            : await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        if (item is null || buyer is not { } user)
        {
            return false;
        }

        var quantity = Math.Min(c.Int(1, 3), item.Quantity ?? int.MaxValue);
        var amount = item.Price * quantity;
        var historyId = c.Uuid();
        var stateHistoryId = c.Uuid();
        var transactionId = c.Uuid();
        var checkout = c.Uuid();
        var payFromWallet = walletUser && c.Chance(0.7);
        var channel = c.Pick(new[] { "ios", "android", "web" });

        // inventory-service: take the stock (and sell out), with its history rows.
        if (item.Quantity is not null)
        {
            await InTransactionAsync("inventory", async tx =>
            {
                var row = await tx.QueryAsync<(int Old, int New)?>(
                    "UPDATE inventory_item SET quantity = quantity - @quantity WHERE id = @id AND quantity >= @quantity RETURNING quantity + @quantity, quantity",
                    new { id = item.Id, quantity });
                if (row is not { } q)
                {
                    return false;
                }

                tx.Updated("inventory_item");
                await tx.InsertAsync("inventory_item_quantity_history", """
                    INSERT INTO inventory_item_quantity_history (id, inventory_item_id, old_value, new_value, changed_on) VALUES (@historyId, @id, @old, @new, @now)
                    """, new { historyId, id = item.Id, old = q.Old, @new = q.New, now = c.Now });
                if (q.New == 0)
                {
                    await tx.UpdateAsync("inventory_item", "UPDATE inventory_item SET state = 'SOLD_OUT' WHERE id = @id", new { id = item.Id });
                    await tx.InsertAsync("inventory_item_state_history", """
                        INSERT INTO inventory_item_state_history (id, inventory_item_id, old_value, new_value, changed_on) VALUES (@stateHistoryId, @id, 'ACTIVE', 'SOLD_OUT', @now)
                        """, new { stateHistoryId, id = item.Id, now = c.Now });
                }

                return true;
            });
        }

        // transaction-service: the purchase record.
        await InTransactionAsync("transaction", tx => Done(tx.InsertAsync("transactions", """
            INSERT INTO transactions (id, user_id, item_id, purchase_id, price, quantity, currency, status, created_by_id, created_on)
            VALUES (@transactionId, @user, @item, @checkout, @price, @quantity, @currency, 'COMPLETED', @user, @now)
            """, new { transactionId, user, item = item.Id, checkout, price = item.Price, quantity, currency = item.Currency, now = c.Now })));

        // wallet-service: paid from the wallet when the balance covers it.
        if (payFromWallet)
        {
            await InTransactionAsync("wallet", async tx =>
            {
                var wallet = await tx.QueryAsync<(long Id, decimal Balance)?>("SELECT id, balance FROM balance_transaction WHERE user_id = @user FOR UPDATE", new { user });
                if (wallet is not { } w || w.Balance < amount)
                {
                    return false;
                }

                await tx.InsertAsync("create_transaction", """
                    INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type)
                    VALUES (@user, @amount, true, @itemId, @description, @meta::jsonb, @now, 'PURCHASE')
                    """, new { user, amount, itemId = item.ItemId, description = $"Purchase {item.ItemId}", meta = $$"""{"channel": "{{channel}}", "purchase_id": "{{checkout}}"}""", now = c.Now });
                await tx.UpdateAsync("balance_transaction", "UPDATE balance_transaction SET balance = balance - @amount, updated_at = @now WHERE id = @id", new { amount, now = c.Now, id = w.Id });
                tx.Money(MoneyMoved.Zero with { Purchases = amount });
                return true;
            });
        }

        return true;
    }

    private async Task<(long Id, Guid User, decimal Balance)?> PickWalletAsync(Tx tx, Context c, string filter = "true")
    {
        var id = await tx.QueryAsync<long?>(PickSql("balance_transaction", "user_id", "id", filter), new { pickFrom = c.Uuid() });
        return id is null ? null : await tx.QueryAsync<(long, Guid, decimal)?>("SELECT id, user_id, balance FROM balance_transaction WHERE id = @id FOR UPDATE", new { id });
    }

    private Task<bool> CreditAsync(Context c) => InTransactionAsync("wallet", async tx =>
    {
        if (await PickWalletAsync(tx, c) is not { } w)
        {
            return false;
        }

        var amount = c.Money(500, 20_000, subCent: 0.03);
        await tx.InsertAsync("create_transaction", """
            INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type)
            VALUES (@user, @amount, false, NULL, 'Wallet top-up', @meta::jsonb, @now, 'CREDIT')
            """, new { user = w.User, amount, meta = $$"""{"provider": "stripe", "charge": "ch_{{c.R.Hex(8)}}"}""", now = c.Now });
        await tx.UpdateAsync("balance_transaction", "UPDATE balance_transaction SET balance = balance + @amount, updated_at = @now WHERE id = @id", new { amount, now = c.Now, id = w.Id });
        tx.Money(MoneyMoved.Zero with { Credits = amount });
        return true;
    });

    private Task<bool> DebitAsync(Context c) => InTransactionAsync("wallet", async tx =>
    {
        if (await PickWalletAsync(tx, c, "balance >= 1") is not { } w)
        {
            return false;
        }

        var amount = Math.Min(c.Money(100, 5_000, subCent: 0.03), w.Balance);
        await tx.InsertAsync("create_transaction", """
            INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type)
            VALUES (@user, @amount, true, NULL, @description, NULL, @now, 'DEBIT')
            """, new { user = w.User, amount, description = c.Chance(0.5) ? "Payout" : "Service fee", now = c.Now });
        await tx.UpdateAsync("balance_transaction", "UPDATE balance_transaction SET balance = balance - @amount, updated_at = @now WHERE id = @id", new { amount, now = c.Now, id = w.Id });
        tx.Money(MoneyMoved.Zero with { Debits = amount });
        return true;
    });

    /// <summary>Two wallet rows, the pair link and both balances, in one transaction: nets to zero.</summary>
    private Task<bool> TransferAsync(Context c) => InTransactionAsync("wallet", async tx =>
    {
        var from = await tx.QueryAsync<long?>(PickSql("balance_transaction", "user_id", "id", "balance >= 1"), new { pickFrom = c.Uuid() });
        var to = await tx.QueryAsync<long?>(PickSql("balance_transaction", "user_id", "id"), new { pickFrom = c.Uuid() });
        if (from is null || to is null || from == to)
        {
            return false;
        }

        // Both rows locked in id order, as the service does, so concurrent transfers cannot deadlock.
        var rows = (await tx.QueryAllAsync<(long Id, Guid User, decimal Balance)>(
            "SELECT id, user_id, balance FROM balance_transaction WHERE id IN (@from, @to) ORDER BY id FOR UPDATE", new { from, to })).ToDictionary(r => r.Id);
        var source = rows[from.Value];
        var target = rows[to.Value];
        var amount = Math.Min(c.Money(100, 10_000), decimal.Floor(source.Balance * 100) / 100);
        if (amount <= 0)
        {
            return false;
        }

        var debit = await tx.InsertReturningAsync<long>("create_transaction", """
            INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type)
            VALUES (@user, @amount, true, NULL, 'Transfer sent', @meta::jsonb, @now, 'TRANSFER') RETURNING id
            """, new { user = source.User, amount, meta = $$"""{"to": "{{target.User}}"}""", now = c.Now });
        var credit = await tx.InsertReturningAsync<long>("create_transaction", """
            INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type)
            VALUES (@user, @amount, false, NULL, 'Transfer received', @meta::jsonb, @now, 'TRANSFER') RETURNING id
            """, new { user = target.User, amount, meta = $$"""{"from": "{{source.User}}"}""", now = c.Now });
        await tx.InsertAsync("create_transaction_related_transactions",
            "INSERT INTO create_transaction_related_transactions VALUES (@debit, @credit, 'TRANSFER_PAIR')", new { debit, credit });
        await tx.UpdateAsync("balance_transaction", "UPDATE balance_transaction SET balance = balance - @amount, updated_at = @now WHERE id = @id", new { amount, now = c.Now, id = source.Id });
        await tx.UpdateAsync("balance_transaction", "UPDATE balance_transaction SET balance = balance + @amount, updated_at = @now WHERE id = @id", new { amount, now = c.Now, id = target.Id });
        tx.Money(MoneyMoved.Zero with { Transfers = amount });
        return true;
    });

    private Task<bool> RefundAsync(Context c) => InTransactionAsync("wallet", async tx =>
    {
        var max = await tx.ScalarAsync<long?>("SELECT max(id) FROM create_transaction") ?? 0;
        var purchase = await tx.QueryAsync<(long Id, Guid User, decimal Amount, string? ItemId)?>(PickSql("create_transaction c", "c.id", "c.id, c.user_id, c.amount, c.item_id", """
            c.transaction_type = 'PURCHASE'
            AND NOT EXISTS (SELECT 1 FROM create_transaction_related_transactions r WHERE r.related_transaction_id = c.id AND r.relation_type = 'REFUND_OF')
            AND EXISTS (SELECT 1 FROM balance_transaction b WHERE b.user_id = c.user_id)
            """), new { pickFrom = 1 + c.R.Long(Math.Max(1, max)) });
        if (purchase is not { } p)
        {
            return false;
        }

        var wallet = await tx.QueryAsync<long>("SELECT id FROM balance_transaction WHERE user_id = @user FOR UPDATE", new { user = p.User });
        var refund = await tx.InsertReturningAsync<long>("create_transaction", """
            INSERT INTO create_transaction (user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type)
            VALUES (@user, @amount, false, @itemId, 'Refund', @meta::jsonb, @now, 'REFUND') RETURNING id
            """, new { user = p.User, amount = p.Amount, itemId = p.ItemId, meta = $$"""{"refund_of": {{p.Id}}}""", now = c.Now });
        await tx.InsertAsync("create_transaction_related_transactions",
            "INSERT INTO create_transaction_related_transactions VALUES (@refund, @purchase, 'REFUND_OF')", new { refund, purchase = p.Id });
        await tx.UpdateAsync("balance_transaction", "UPDATE balance_transaction SET balance = balance + @amount, updated_at = @now WHERE id = @id", new { amount = p.Amount, now = c.Now, id = wallet });
        tx.Money(MoneyMoved.Zero with { Refunds = p.Amount });
        return true;
    });

    private async Task<bool> InventoryAsync(Context c)
    {
        var p = c.Int(0, 99);
        var historyId = c.Uuid();
        if (p < 70)
        {
            var factor = c.Int(80, 125);
            return await InTransactionAsync("inventory", async tx =>
            {
                var item = await tx.QueryAsync<(Guid Id, decimal Price)?>(PickSql("inventory_item", "id", "id, price", "price BETWEEN 0.01 AND 100000"), new { pickFrom = c.Uuid() });
                if (item is not { } i)
                {
                    return false;
                }

                var price = Math.Max(0.01m, Math.Round(i.Price * factor / 100, 2));
                if (price == i.Price)
                {
                    price += 0.01m;
                }

                await tx.UpdateAsync("inventory_item", "UPDATE inventory_item SET price = @price WHERE id = @id", new { price, id = i.Id });
                await tx.InsertAsync("inventory_item_price_history", """
                    INSERT INTO inventory_item_price_history (id, inventory_item_id, old_value, new_value, changed_on) VALUES (@historyId, @id, @old, @price, @now)
                    """, new { historyId, id = i.Id, old = i.Price, price, now = c.Now });
                return true;
            });
        }

        if (p < 90)
        {
            var added = c.Int(5, 200);
            var stateHistoryId = c.Uuid();
            return await InTransactionAsync("inventory", async tx =>
            {
                var item = await tx.QueryAsync<(Guid Id, int Quantity, string State)?>(PickSql("inventory_item", "id", "id, quantity, state", "quantity IS NOT NULL"), new { pickFrom = c.Uuid() });
                if (item is not { } i)
                {
                    return false;
                }

                await tx.UpdateAsync("inventory_item", "UPDATE inventory_item SET quantity = quantity + @added WHERE id = @id", new { added, id = i.Id });
                await tx.InsertAsync("inventory_item_quantity_history", """
                    INSERT INTO inventory_item_quantity_history (id, inventory_item_id, old_value, new_value, changed_on) VALUES (@historyId, @id, @old, @new, @now)
                    """, new { historyId, id = i.Id, old = i.Quantity, @new = i.Quantity + added, now = c.Now });
                if (i.State == "SOLD_OUT")
                {
                    await tx.UpdateAsync("inventory_item", "UPDATE inventory_item SET state = 'ACTIVE' WHERE id = @id", new { id = i.Id });
                    await tx.InsertAsync("inventory_item_state_history", """
                        INSERT INTO inventory_item_state_history (id, inventory_item_id, old_value, new_value, changed_on) VALUES (@stateHistoryId, @id, 'SOLD_OUT', 'ACTIVE', @now)
                        """, new { stateHistoryId, id = i.Id, now = c.Now });
                }

                return true;
            });
        }

        return await InTransactionAsync("inventory", async tx =>
        {
            var id = await tx.QueryAsync<Guid?>(PickSql("inventory_item", "id", "id", "state = 'ACTIVE'"), new { pickFrom = c.Uuid() });
            if (id is null)
            {
                return false;
            }

            await tx.UpdateAsync("inventory_item", "UPDATE inventory_item SET state = 'ARCHIVED' WHERE id = @id", new { id });
            await tx.InsertAsync("inventory_item_state_history", """
                INSERT INTO inventory_item_state_history (id, inventory_item_id, old_value, new_value, changed_on) VALUES (@historyId, @id, 'ACTIVE', 'ARCHIVED', @now)
                """, new { historyId, id, now = c.Now });
            return true;
        });
    }

    private async Task<bool> ExchangeRateAsync(Context c)
    {
        var p = c.Int(0, 99);
        var id = c.Uuid();
        var tokens = c.Pick(new[] { 100, 500, 1_000, 5_000 });
        var factor = c.Int(90, 110);
        return await InTransactionAsync("stripe", async tx =>
        {
            if (p < 40)
            {
                return await tx.InsertAsync("exchange_rates", """
                    INSERT INTO exchange_rates (id, name, from_currency, to_currency, price, amount, keywords, meta_data, created_on)
                    VALUES (@id, @name, 'USD', 'TKN', @price, @tokens, ARRAY['tokens', 'promo'], '{"promo": true}', @now)
                    """, new { id, name = $"{tokens} tokens (promo)", price = Math.Round(tokens * 0.009m, 2), tokens, now = c.Now }) > 0;
            }

            var rate = await tx.QueryAsync<Guid?>(PickSql("exchange_rates", "id", "id", "deleted_on IS NULL"), new { pickFrom = c.Uuid() });
            if (rate is null)
            {
                return false;
            }

            return p < 70
                ? await tx.UpdateAsync("exchange_rates", "UPDATE exchange_rates SET deleted_on = @now, last_modified_on = @now WHERE id = @rate", new { rate, now = c.Now }) > 0
                : await tx.UpdateAsync("exchange_rates", "UPDATE exchange_rates SET price = round(price * @factor / 100, 2), last_modified_on = @now WHERE id = @rate",
                    new { rate, factor, now = c.Now }) > 0;
        });
    }

    private async Task<bool> SubscriptionsAsync(Context c)
    {
        var p = c.Int(0, 99);
        var id = c.Uuid();
        var celebrity = await ReadAsync<Guid?>("celebrity", PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id"), new { pickFrom = c.Uuid() });
        var title = Words.Title(ref c.R);
        return await InTransactionAsync("subscriptions", async tx =>
        {
            if (p < 30)
            {
                return await tx.InsertAsync("series", "INSERT INTO series (id, name, description, created_by_id, created_on) VALUES (@id, @name, NULL, @celebrity, @now)",
                    new { id, name = $"{title} series", celebrity, now = c.Now }) > 0;
            }

            if (p < 50)
            {
                return await tx.InsertAsync("subscriptions", """
                    INSERT INTO subscriptions (id, name, description, recurring_payment, auto_expires, created_by_id, created_on) VALUES (@id, @name, NULL, 'MONTHLY', 30, @celebrity, @now)
                    """, new { id, name = $"{title} club", celebrity, now = c.Now }) > 0;
            }

            var plan = await tx.QueryAsync<Guid?>(PickSql("subscriptions", "id", "id"), new { pickFrom = c.Uuid() });
            return plan is not null && await tx.UpdateAsync("subscriptions",
                "UPDATE subscriptions SET description = @description, recurring_payment = CASE WHEN recurring_payment = 'MONTHLY' THEN 'YEARLY' ELSE 'MONTHLY' END, last_modified_on = @now WHERE id = @plan",
                new { plan, description = $"Updated {c.Now:yyyy-MM-dd}: {title}", now = c.Now }) > 0;
        });
    }

    // ------------------------------------------------------------------ users

    private async Task<bool> CelebrityProfileAsync(Context c)
    {
        var p = c.Int(0, 99);
        var historyId = c.Uuid();
        var bio = Words.Sentence(ref c.R, c.Int(6, 30));
        var display = c.Chance(0.3) ? $"{c.Pick(Words.UnicodeNames).First} {c.Pick(Words.LastNames)}" : $"{c.Pick(Words.FirstNames)} {c.Pick(Words.LastNames)}";
        var newStatus = c.Pick(CelebrityStatuses);
        return await InTransactionAsync("celebrity", async tx =>
        {
            var row = await tx.QueryAsync<(Guid Id, string? Status)?>(PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id, status"), new { pickFrom = c.Uuid() });
            if (row is not { } celebrity)
            {
                return false;
            }

            if (p < 60)
            {
                // Leaves meta_data alone: a TOASTed meta_data must survive the update unchanged.
                return await tx.UpdateAsync("celebrity_profiles",
                    "UPDATE celebrity_profiles SET bio = @bio, display_name = CASE WHEN @rename THEN @display ELSE display_name END, last_modified_on = @now WHERE celebrity_user_id = @id",
                    new { bio, rename = p < 15, display, now = c.Now, id = celebrity.Id }) > 0;
            }

            var status = newStatus == celebrity.Status ? "ACTIVE" == newStatus ? "SUSPENDED" : "ACTIVE" : newStatus;
            await tx.UpdateAsync("celebrity_profiles", "UPDATE celebrity_profiles SET status = @status, last_modified_on = @now WHERE celebrity_user_id = @id",
                new { status, now = c.Now, id = celebrity.Id });
            await tx.InsertAsync("celebrity_profile_status_history", """
                INSERT INTO celebrity_profile_status_history (id, celebrity_user_id, status, occurred_on, meta_data)
                VALUES (@historyId, @id, @status, @now, jsonb_build_object('previous', @previous::text, 'by', 'admin'))
                """, new { historyId, id = celebrity.Id, status, now = c.Now, previous = celebrity.Status });
            return true;
        });
    }

    private async Task<bool> GroupAsync(Context c)
    {
        var p = c.Int(0, 99);
        var description = Words.Sentence(ref c.R, c.Int(5, 20));
        return await InTransactionAsync("group-profile", async tx =>
        {
            var group = await tx.QueryAsync<Guid?>(PickSql("group_profiles", "profile_id", "profile_id", "NOT is_deleted"), new { pickFrom = c.Uuid() });
            if (group is null)
            {
                return false;
            }

            var sql = p switch
            {
                < 60 => "UPDATE group_profiles SET description = @description, last_modified_on = @now WHERE profile_id = @group",
                < 85 => "UPDATE group_profiles SET is_approved = NOT is_approved, last_modified_on = @now WHERE profile_id = @group",
                _ => "UPDATE group_profiles SET is_deleted = true, last_modified_on = @now WHERE profile_id = @group",
            };
            return await tx.UpdateAsync("group_profiles", sql, new { description, now = c.NowLocal, group }) > 0;
        });
    }

    // ------------------------------------------------------------------ media

    private async Task<bool> MediaAsync(Context c)
    {
        var p = c.Int(0, 99);
        var historyId = c.Uuid();
        var newId = c.Uuid();
        var factor = c.Int(70, 140);
        var owner = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        var md5 = c.R.Hex(16);
        return await InTransactionAsync("media", async tx =>
        {
            if (p < 50)
            {
                // A state flip; for a third of them a file whose mux_info is TOASTed (and is left untouched).
                var filter = p < 30 ? "state IN ('READY', 'PROCESSING') AND pg_column_size(mux_info) > 8192" : "state IN ('READY', 'PROCESSING')";
                var file = await tx.QueryAsync<(Guid Id, string State)?>(PickSql("files", "content_id", "content_id, state", filter), new { pickFrom = c.Uuid() })
                           ?? await tx.QueryAsync<(Guid Id, string State)?>(PickSql("files", "content_id", "content_id, state", "state IN ('READY', 'PROCESSING')"), new { pickFrom = c.Uuid() });
                if (file is not { } f)
                {
                    return false;
                }

                var state = f.State == "READY" ? "PROCESSING" : "READY";
                await tx.UpdateAsync("files", "UPDATE files SET state = @state, last_modified_on = @now WHERE content_id = @id", new { state, now = c.Now, id = f.Id });
                await tx.InsertAsync("files_state_history", """
                    INSERT INTO files_state_history (id, content_id, old_value, new_value, changed_on) VALUES (@historyId, @id, @old, @state, @now)
                    """, new { historyId, id = f.Id, old = f.State, state, now = c.Now });
                return true;
            }

            if (p < 70)
            {
                var file = await tx.QueryAsync<(Guid Id, decimal Price)?>(PickSql("files", "content_id", "content_id, price", "price IS NOT NULL"), new { pickFrom = c.Uuid() });
                if (file is not { } f)
                {
                    return false;
                }

                var price = Math.Max(0.01m, Math.Round(f.Price * factor / 100, 2));
                price = price == f.Price ? price + 0.01m : price;
                await tx.UpdateAsync("files", "UPDATE files SET price = @price, last_modified_on = @now WHERE content_id = @id", new { price, now = c.Now, id = f.Id });
                await tx.InsertAsync("files_price_history", """
                    INSERT INTO files_price_history (id, content_id, old_value, new_value, changed_on) VALUES (@historyId, @id, @old, @price, @now)
                    """, new { historyId, id = f.Id, old = f.Price, price, now = c.Now });
                return true;
            }

            if (p < 80)
            {
                // Purge a file marked deleted: its history and thumbnail links first (in-database FKs).
                var id = await tx.QueryAsync<Guid?>(PickSql("files", "content_id", "content_id", "state = 'DELETED'"), new { pickFrom = c.Uuid() });
                if (id is null)
                {
                    return false;
                }

                await tx.DeleteAsync("files_price_history", "DELETE FROM files_price_history WHERE content_id = @id", new { id });
                await tx.DeleteAsync("files_state_history", "DELETE FROM files_state_history WHERE content_id = @id", new { id });
                await tx.UpdateAsync("files", "UPDATE files SET thumbnail_for = NULL WHERE thumbnail_for = @id", new { id });
                await tx.DeleteAsync("files", "DELETE FROM files WHERE content_id = @id", new { id });
                return true;
            }

            if (owner is null)
            {
                return false;
            }

            return await tx.InsertAsync("files", """
                INSERT INTO files (content_id, owner_id, name, content_length, content_md5, mime_type, url, height, width, type, state, media_info, created_on)
                VALUES (@newId, @owner, @name, @length, @md5, 'image/jpeg', @url, 1080, 1080, 'photo', 'PROCESSING', '{"codec": "jpeg"}', @now)
                """, new { newId, owner, name = $"upload-{newId:N}.jpg", length = 250_000L + factor * 1000, md5, url = $"https://media.peeq.example/{owner}/{newId}/upload.jpg", now = c.Now }) > 0;
        });
    }

    private sealed record MediaFileRow(Guid ContentId, Guid OwnerId, string? Name, long? ContentLength, string? ContentMd5, string? MimeType);

    private async Task<bool> ContentAsync(Context c)
    {
        var p = c.Int(0, 99);
        var contentId = c.Uuid();
        var owner = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        var media = p is >= 60 and < 85
            ? await ReadAsync<MediaFileRow>("media", PickSql("files", "content_id", "content_id AS ContentId, owner_id AS OwnerId, name, content_length AS ContentLength, content_md5 AS ContentMd5, mime_type AS MimeType"), new { pickFrom = c.Uuid() })
            : null;
        var pickFrom = c.Uuid();
        var md5 = c.R.Hex(16);
        return await InTransactionAsync("content", async tx =>
        {
            if (p < 60 && owner is { } o)
            {
                var name = $"doc-{contentId:N}.pdf";
                return await tx.InsertAsync("files", """
                    INSERT INTO files (id, content_id, content_length, mime_type, name, owner_id, content_md5, created_on) VALUES (@key, @contentId, 120000, 'application/pdf', @name, @o, @md5, @now)
                    """, new { key = $"{o}/{contentId}/{name}", contentId, name, o, md5, now = c.Now }) > 0;
            }

            if (media is not null)
            {
                // The same file registered in content-db as well: one more duplicate across databases.
                var key = $"{media.OwnerId}/{media.ContentId}/{media.Name ?? "file"}";
                return await tx.InsertAsync("files", """
                    INSERT INTO files (id, content_id, content_length, mime_type, name, owner_id, content_md5, created_on) VALUES (@key, @ContentId, @ContentLength, @MimeType, @Name, @OwnerId, @ContentMd5, @now)
                    ON CONFLICT (id) DO NOTHING
                    """, new { key, media.ContentId, media.ContentLength, media.MimeType, media.Name, media.OwnerId, media.ContentMd5, now = c.Now }) > 0;
            }

            var victim = await tx.QueryAsync<string?>(PickSql("files", "id", "id"), new { pickFrom = pickFrom.ToString() });
            return victim is not null && await tx.DeleteAsync("files", "DELETE FROM files WHERE id = @victim", new { victim }) > 0;
        });
    }

    private async Task<bool> ShoutoutAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var item = p >= 75 ? await ReadAsync<(string ItemId, Guid CreatedBy)?>("inventory", PickSql("inventory_item", "id", "item_id, created_by_id", "type = 'SHOUTOUT'"), new { pickFrom = c.Uuid() }) : null;
        var fan = c.Pick(Words.FirstNames);
        var key = c.R.Hex(16);
        return await InTransactionAsync("shoutout", async tx =>
        {
            if (p < 75)
            {
                // State changes leave mux_info alone (TOASTed for some rows).
                var stream = await tx.QueryAsync<(Guid Id, string? State)?>(PickSql("mux_stream", "id", "id, stream_state"), new { pickFrom = c.Uuid() });
                if (stream is not { } s)
                {
                    return false;
                }

                var state = s.State switch { "idle" => "active", "active" => "disabled", _ => "idle" };
                return await tx.UpdateAsync("mux_stream", "UPDATE mux_stream SET stream_state = @state, last_modified_on = @now WHERE id = @id", new { state, now = c.Now, id = s.Id }) > 0;
            }

            if (item is not { } i)
            {
                return false;
            }

            return await tx.InsertAsync("mux_stream", """
                INSERT INTO mux_stream (id, created_by_id, inventory_item_id, name, stream_state, stream_key, mux_info, created_on)
                VALUES (@newId, @createdBy, @itemId, @name, 'idle', @key, '{"latency_mode": "low"}', @now)
                """, new { newId, createdBy = i.CreatedBy, itemId = i.ItemId, name = $"Happy birthday, {fan}!", key, now = c.Now }) > 0;
        });
    }

    private async Task<bool> LivestreamAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var creator = await ReadAsync<Guid?>("celebrity", PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id"), new { pickFrom = c.Uuid() });
        var title = Words.Title(ref c.R);
        var key = c.R.Hex(16);
        return await InTransactionAsync("mux-livestream", async tx =>
        {
            if (p < 70)
            {
                var stream = await tx.QueryAsync<Guid?>(PickSql("mux_livestreams", "livestream_id", "livestream_id"), new { pickFrom = c.Uuid() });
                return stream is not null && await tx.UpdateAsync("mux_livestreams",
                    "UPDATE mux_livestreams SET stream_state = CASE WHEN stream_state = 'active' THEN 'idle' ELSE 'active' END, last_modified_on = @now WHERE livestream_id = @stream",
                    new { stream, now = c.Now }) > 0;
            }

            return creator is { } cr && await tx.InsertAsync("mux_livestreams", """
                INSERT INTO mux_livestreams (livestream_id, name, stream_key, stream_state, created_by, created_on) VALUES (@newId, @title, @key, 'idle', @cr, @now)
                """, new { newId, title, key, cr, now = c.Now }) > 0;
        });
    }

    // ------------------------------------------------------------------ events

    private async Task<bool> BroadcastAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var creator = await ReadAsync<Guid?>("celebrity", PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id"), new { pickFrom = c.Uuid() });
        var title = Words.Title(ref c.R);
        var minutes = c.Int(15, 180);
        return await InTransactionAsync("broadcast", async tx =>
        {
            if (p < 50)
            {
                return creator is { } cr && await tx.InsertAsync("broadcasts", """
                    INSERT INTO broadcasts (id, id_type, id_str, created_by_id, created_on, starts_on, stops_on, name, meta_data)
                    VALUES (@newId, 'USER', @cr::text, @cr, @now, @starts, @stops, @title, '{"visibility": "public"}')
                    """, new { newId, cr, now = c.Now, starts = c.Now.AddDays(1), stops = c.Now.AddDays(1).AddMinutes(minutes), title }) > 0;
            }

            var id = await tx.QueryAsync<Guid?>(PickSql("broadcasts", "id", "id"), new { pickFrom = c.Uuid() });
            return id is not null && await tx.UpdateAsync("broadcasts", "UPDATE broadcasts SET stops_on = coalesce(starts_on, @now) + make_interval(mins => @minutes), name = @title WHERE id = @id",
                new { id, now = c.Now, minutes, title }) > 0;
        });
    }

    private sealed class EventCopy
    {
        public Guid Id { get; set; }

        public string? IdStr { get; set; }

        public string? IdType { get; set; }

        public Guid CreatedById { get; set; }

        public DateTime CreatedOn { get; set; }

        public DateTime? StartsOn { get; set; }

        public DateTime? StopsOn { get; set; }

        public string? Name { get; set; }

        public string? Description { get; set; }

        public string? MuxInfo { get; set; }

        public string? MetaData { get; set; }

        public Guid[]? AssociatedItemIds { get; set; }
    }

    private async Task<bool> StreamAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var copy = p is >= 60 and < 85
            ? await ReadAsync<EventCopy>("broadcast", PickSql("broadcasts", "id",
                "id, id_str AS IdStr, id_type AS IdType, created_by_id AS CreatedById, created_on AS CreatedOn, starts_on AS StartsOn, stops_on AS StopsOn, name, description, mux_info::text AS MuxInfo, meta_data::text AS MetaData, associated_item_ids AS AssociatedItemIds"),
                new { pickFrom = c.Uuid() })
            : null;
        var creator = await ReadAsync<Guid?>("celebrity", PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id"), new { pickFrom = c.Uuid() });
        var minutes = c.Int(5, 60);
        var title = Words.Title(ref c.R);
        return await InTransactionAsync("stream", async tx =>
        {
            if (p < 60)
            {
                var id = await tx.QueryAsync<Guid?>(PickSql("streams", "id", "id"), new { pickFrom = c.Uuid() });
                return id is not null && await tx.UpdateAsync("streams", "UPDATE streams SET stops_on = coalesce(stops_on, starts_on, @now) + make_interval(mins => @minutes) WHERE id = @id",
                    new { id, now = c.Now, minutes }) > 0;
            }

            if (copy is not null)
            {
                // stream-db copies a broadcast under the same id (the duplication the seed describes).
                return await tx.InsertAsync("streams", """
                    INSERT INTO streams (id, id_str, id_type, created_by_id, created_on, starts_on, stops_on, name, description, mux_info, meta_data, associated_item_ids)
                    VALUES (@Id, @IdStr, @IdType, @CreatedById, @CreatedOn, @StartsOn, @StopsOn, @Name, @Description, @MuxInfo::jsonb, @MetaData::jsonb, @AssociatedItemIds)
                    ON CONFLICT (id) DO NOTHING
                    """, copy) > 0;
            }

            return creator is { } cr && await tx.InsertAsync("streams", """
                INSERT INTO streams (id, created_by_id, created_on, starts_on, name) VALUES (@newId, @cr, @now, @now, @title)
                """, new { newId, cr, now = c.Now, title }) > 0;
        });
    }

    private async Task<bool> OnsiteAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var user = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        var title = Words.Title(ref c.R);
        return await InTransactionAsync("onsite-event", async tx =>
        {
            var eventId = await tx.QueryAsync<Guid?>(PickSql("on_site_events", "id", "id"), new { pickFrom = c.Uuid() });
            if (p < 80)
            {
                return eventId is not null && user is not null && await tx.InsertAsync("user_event_checkins",
                    "INSERT INTO user_event_checkins (id, user_id, event_id, checked_in_at) VALUES (@newId, @user, @eventId, @now)", new { newId, user, eventId, now = c.Now }) > 0;
            }

            if (p < 95)
            {
                return user is not null && await tx.InsertAsync("on_site_events", """
                    INSERT INTO on_site_events (id, name, event_date, event_sign_up_type, created_by, created_on) VALUES (@newId, @title, @date, 'OPEN', @user, @now)
                    """, new { newId, title, date = DateTime.SpecifyKind(c.Now.Date.AddDays(30).AddHours(19), DateTimeKind.Unspecified), user, now = c.Now }) > 0;
            }

            // A cancelled event goes with its check-ins (the in-database FK has no cascade).
            if (eventId is null)
            {
                return false;
            }

            await tx.DeleteAsync("user_event_checkins", "DELETE FROM user_event_checkins WHERE event_id = @eventId", new { eventId });
            return await tx.DeleteAsync("on_site_events", "DELETE FROM on_site_events WHERE id = @eventId", new { eventId }) > 0;
        });
    }

    private async Task<bool> ClassCatalogAsync(Context c)
    {
        var p = c.Int(0, 99);
        var badge = c.Pick(new[] { "FIRST_CLASS", "PERFECT_ATTENDANCE", "FAST_LEARNER", "TEAM_PLAYER", "MVP", "FINISHER", "COACHS_PICK", "NIGHT_OWL" });
        var days = c.Int(1, 30);
        return await InTransactionAsync("class-catalog", async tx =>
        {
            if (p < 40)
            {
                var classId = await tx.QueryAsync<Guid?>(PickSql("classes", "id", "id"), new { pickFrom = c.Uuid() });
                return classId is not null && await tx.InsertAsync("class_badges",
                    "INSERT INTO class_badges (class_id, badge_id) VALUES (@classId, @badge) ON CONFLICT DO NOTHING", new { classId, badge }) > 0;
            }

            if (p < 70)
            {
                var row = await tx.QueryAsync<(Guid ClassId, string BadgeId)?>(PickSql("class_badges", "class_id", "class_id, badge_id"), new { pickFrom = c.Uuid() });
                return row is { } b && await tx.DeleteAsync("class_badges", "DELETE FROM class_badges WHERE class_id = @ClassId AND badge_id = @BadgeId", new { b.ClassId, b.BadgeId }) > 0;
            }

            var session = await tx.QueryAsync<Guid?>(PickSql("sessions", "id", "id"), new { pickFrom = c.Uuid() });
            return session is not null && await tx.UpdateAsync("sessions", """
                UPDATE sessions SET starts_on = coalesce(starts_on, @now) + make_interval(days => @days), stops_on = coalesce(stops_on, starts_on, @now) + make_interval(days => @days),
                       last_modified_on = @now WHERE id = @session
                """, new { session, days, now = c.Now }) > 0;
        });
    }

    // ------------------------------------------------------------------ platform

    private async Task<bool> NotificationAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var user = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        var name = c.Pick(Words.FirstNames);
        return await InTransactionAsync("notification-service", async tx =>
        {
            if (p < 40)
            {
                var template = await tx.QueryAsync<(string Key, string Channel)?>(PickSql("notification_templates", "id", "template_key, channel"), new { pickFrom = c.Uuid() });
                return user is not null && await tx.InsertAsync("notifications", """
                    INSERT INTO notifications (id, user_id, template_key, channel, subject, body, status, created_on) VALUES (@newId, @user, @key, @channel, NULL, @body, 'PENDING', @now)
                    """, new { newId, user, key = template?.Key, channel = template?.Channel ?? "IN_APP", body = $"Hi {name}, something new is waiting for you.", now = c.Now }) > 0;
            }

            var (from, to, column) = p < 70 ? ("PENDING", "SENT", "sent_on") : p < 90 ? ("SENT", "READ", "read_on") : ("READ", null, null);
            var id = await tx.QueryAsync<Guid?>(PickSql("notifications", "id", "id", $"status = '{from}'"), new { pickFrom = c.Uuid() });
            if (id is null)
            {
                return false;
            }

            return to is null
                ? await tx.DeleteAsync("notifications", "DELETE FROM notifications WHERE id = @id", new { id }) > 0
                : await tx.UpdateAsync("notifications", $"UPDATE notifications SET status = @to, {column} = @now, last_modified_on = @now WHERE id = @id", new { id, to, now = c.Now }) > 0;
        });
    }

    private async Task<bool> MessageBoardAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var user = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        var content = c.Chance(0.1) ? c.Pick(new[] { "¡Vamos! ⚽", "最高！", "Bravo 👏", "יאללה" }) : Words.Sentence(ref c.R, c.Int(3, 20));
        var name = c.Pick(Words.FirstNames);
        return await InTransactionAsync("message-board", async tx =>
        {
            if (p < 55)
            {
                var member = await tx.QueryAsync<(Guid Id, Guid Board)?>(PickSql("members", "id", "id, message_board_id", "removed_on IS NULL"), new { pickFrom = c.Uuid() });
                return member is { } m && await tx.InsertAsync("messages", """
                    INSERT INTO messages (id, message_board_id, members_id, message_content, message_content_type, created_on) VALUES (@newId, @board, @member, @content, 'TEXT', @now)
                    """, new { newId, board = m.Board, member = m.Id, content, now = c.Now }) > 0;
            }

            if (p < 75)
            {
                var message = await tx.QueryAsync<Guid?>(PickSql("messages", "id", "id"), new { pickFrom = c.Uuid() });
                return message is not null && await tx.DeleteAsync("messages", "DELETE FROM messages WHERE id = @message", new { message }) > 0;
            }

            if (p < 85)
            {
                var member = await tx.QueryAsync<Guid?>(PickSql("members", "id", "id", "removed_on IS NULL"), new { pickFrom = c.Uuid() });
                return member is not null && await tx.UpdateAsync("members", "UPDATE members SET removed_on = @now WHERE id = @member", new { member, now = c.Now }) > 0;
            }

            var board = await tx.QueryAsync<Guid?>(PickSql("message_boards", "id", "id"), new { pickFrom = c.Uuid() });
            return board is not null && user is not null && await tx.InsertAsync("members", """
                INSERT INTO members (id, message_board_id, user_id, name, added_on, meta_data)
                SELECT @newId, @board, @user, @name, @now, '{"role": "member"}'::jsonb
                WHERE NOT EXISTS (SELECT 1 FROM members WHERE message_board_id = @board AND user_id = @user AND removed_on IS NULL)
                """, new { newId, board, user, name, now = c.Now }) > 0;
        });
    }

    private async Task<bool> SseAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var user = await ReadAsync<Guid?>("fan", PickSql("fan_profiles", "fan_user_id", "fan_user_id"), new { pickFrom = c.Uuid() });
        return await InTransactionAsync("sse", async tx =>
        {
            if (p < 60)
            {
                var group = await tx.QueryAsync<Guid?>(PickSql("groups", "id", "id"), new { pickFrom = c.Uuid() });
                return group is not null && user is not null && await tx.InsertAsync("members", """
                    INSERT INTO members (id, group_id, user_id, added_on) VALUES (@newId, @group, @user, @now) ON CONFLICT (group_id, user_id) DO NOTHING
                    """, new { newId, group, user, now = c.NowLocal }) > 0;
            }

            var member = await tx.QueryAsync<Guid?>(PickSql("members", "id", "id"), new { pickFrom = c.Uuid() });
            return member is not null && await tx.DeleteAsync("members", "DELETE FROM members WHERE id = @member", new { member }) > 0;
        });
    }

    private async Task<bool> TagAsync(Context c)
    {
        var p = c.Int(0, 99);
        var newId = c.Uuid();
        var editor = await ReadAsync<Guid?>("celebrity", PickSql("celebrity_profiles", "celebrity_user_id", "celebrity_user_id"), new { pickFrom = c.Uuid() });
        var description = Words.Sentence(ref c.R, c.Int(3, 12));
        var name = $"{c.Pick(Words.Sports)}-{c.Pick(Words.Nouns)}-{newId.ToString()[..6]}";
        return await InTransactionAsync("tags", async tx =>
        {
            if (p < 70)
            {
                var tag = await tx.QueryAsync<Guid?>(PickSql("tags", "id", "id"), new { pickFrom = c.Uuid() });
                return tag is not null && await tx.UpdateAsync("tags", "UPDATE tags SET description = @description, last_modified_on = @now, updated_by_id = @editor WHERE id = @tag",
                    new { tag, description, now = c.Now, editor }) > 0;
            }

            return await tx.InsertAsync("tags", "INSERT INTO tags (id, name, type, created_on, created_by_id) VALUES (@newId, @name, 'TOPIC', @now, @editor)",
                new { newId, name, now = c.Now, editor }) > 0;
        });
    }

    private async Task<bool> VaultAsync(Context c, string db)
    {
        var p = c.Int(0, 99);
        var secretId = c.Uuid().ToString();
        var value = $"v1:{Words.Incompressible(ref c.R, 48)}";
        return await InTransactionAsync(db, async tx =>
        {
            if (p < 50)
            {
                var secret = await tx.QueryAsync<string?>(PickSql("vault_secrets", "secret_id", "secret_id"), new { pickFrom = c.Uuid().ToString() });
                return secret is not null && await tx.UpdateAsync("vault_secrets", "UPDATE vault_secrets SET value = @value, updated_on = @now WHERE secret_id = @secret",
                    new { secret, value, now = c.Now }) > 0;
            }

            if (p < 80)
            {
                var ns = await tx.QueryAsync<string?>(PickSql("vault_namespaces", "namespace_id", "namespace_id"), new { pickFrom = c.R.Hex(4) });
                return ns is not null && await tx.InsertAsync("vault_secrets", """
                    INSERT INTO vault_secrets (secret_id, namespace_id, key, value, created_on) VALUES (@secretId, @ns, @key, @value, @now)
                    """, new { secretId, ns, key = $"api-key-{secretId[..8]}", value, now = c.Now }) > 0;
            }

            var victim = await tx.QueryAsync<string?>(PickSql("vault_secrets", "secret_id", "secret_id"), new { pickFrom = c.Uuid().ToString() });
            return victim is not null && await tx.DeleteAsync("vault_secrets", "DELETE FROM vault_secrets WHERE secret_id = @victim", new { victim }) > 0;
        });
    }

    private static async Task<bool> Done(Task<int> rows) => await rows > 0;
}
