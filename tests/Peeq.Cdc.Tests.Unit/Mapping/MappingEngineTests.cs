using System.Text.Json.Nodes;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Transform.Mapping;
using Peeq.Cdc.Transform.Mapping.Declarative;
using Peeq.Cdc.Transform.Mapping.Language;

namespace Peeq.Cdc.Tests.Unit.Mapping;

/// <summary>The mapping engine, rule by rule, on small in-memory catalogs.</summary>
public sealed class MappingEngineTests
{
    private static CatalogColumn C(string name, string type, bool notNull = false) => new(name, SqlType.Parse(type), notNull, false);

    private static MappingCatalog Catalog()
    {
        var c = new MappingCatalog();
        void Source(string source, string table, string[] key, params CatalogColumn[] cols)
        {
            c.SourceTables[(source, new TableId("public", table))] = new CatalogTable(new TableId("public", table), cols, key);
            if (!c.Captured.TryGetValue(source, out var set))
            {
                set = [];
                c.Captured[source] = set;
            }

            set.Add(new TableId("public", table));
        }

        void Target(string table, string[] key, params CatalogColumn[] cols) =>
            c.TargetTables[new TableId("public", table)] = new CatalogTable(new TableId("public", table), cols, key);

        Source("fan", "fan_follows", ["id"], C("id", "character varying(32)", true), C("fan_user_id", "uuid"), C("celeb_user_id", "uuid"),
            C("followed_on", "timestamp with time zone"), C("unfollowed_on", "timestamp with time zone"), C("notifications", "jsonb"));
        Target("fan_follows", ["id"], C("id", "uuid", true), C("fan_id", "uuid", true), C("celebrity_id", "uuid", true),
            C("followed_on", "timestamp without time zone", true), C("unfollowed_on", "timestamp without time zone"), C("notifications", "jsonb"));
        Source("fan", "fan_profiles", ["fan_user_id"], C("fan_user_id", "uuid", true), C("meta_data", "jsonb"), C("created_on", "timestamp with time zone", true));
        Source("celebrity", "celebrity_profiles", ["celebrity_user_id"], C("celebrity_user_id", "uuid", true), C("display_name", "character varying(255)"),
            C("meta_data", "jsonb"), C("created_on", "timestamp with time zone", true));
        Source("celebrity", "celebrity_profile_tags", ["celebrity_user_id"], C("celebrity_user_id", "uuid", true), C("tags", "uuid[]"));
        Target("profiles", ["id"], C("id", "uuid", true), C("profile_type", "character varying(50)", true), C("display_name", "character varying(10)"),
            C("meta_data", "jsonb"), C("created_on", "timestamp without time zone", true));
        Target("profile_tags", ["profile_id", "tag_id"], C("profile_id", "uuid", true), C("tag_id", "uuid", true));
        Source("wallet", "create_transaction", ["id"], C("id", "bigint", true), C("amount", "numeric(19,4)", true), C("item_id", "character varying(255)"),
            C("user_id", "uuid", true));
        Target("transactions", ["id"], C("id", "uuid", true), C("amount", "integer", true), C("item_id", "uuid"), C("user_id", "uuid", true));
        Source("content", "files", ["id"], C("id", "character varying(255)", true), C("content_id", "uuid", true), C("mime_type", "character varying(255)"));
        Target("media_files", ["id"], C("id", "uuid", true), C("media_type", "character varying(50)", true), C("storage_url", "text"));
        Source("vault", "vault_namespaces", ["namespace_id"], C("namespace_id", "character varying(255)", true), C("private_key", "text"));
        Target("vault_namespaces", ["namespace_id"], C("namespace_id", "character varying(255)", true), C("private_key", "text"), C("other_key", "text"));
        c.Sensitive["vault"] = [(new TableId("public", "vault_namespaces"), "private_key")];
        return c;
    }

    private const string Header = "target: t\nsources: [fan, celebrity, wallet, content, vault]\n";

    /// <summary>Binds a mapping (only the tables it names are required to be covered: coverage is checked elsewhere).</summary>
    private static DeclarativeMapping Bind(string yaml)
    {
        var file = MappingFile.Parse(Header + yaml, "m.yaml", "m.yaml");
        var catalog = Catalog();
        foreach (var (source, tables) in catalog.Captured)
        {
            tables.IntersectWith(file.SourceTables().Where(x => x.Source == source).Select(x => x.Table));
        }

        return DeclarativeMapping.Bind("t", file, catalog, out _);
    }

    private static MappingFileException BindFails(string yaml) => Assert.Throws<MappingFileException>(() => Bind(yaml));

    private static RawChange Change(string source, string table, ChangeOp op, JsonObject? key, JsonObject? after, JsonObject? before = null, params string[] unchanged) =>
        new(source, "db", new TableId("public", table), op, new SourcePosition(Lsn.Parse("0/10"), 1), Lsn.Parse("0/10"), 7, 0, op == ChangeOp.Read,
            key, before, after, unchanged);

    private static IReadOnlyList<RowOperation> Map(DeclarativeMapping m, RawChange c)
    {
        var output = new MappingOutput();
        m.Map(c, output);
        return output.Operations;
    }

    private const string Follows = """
        tables:
          - table: fan_follows
            from:
              - source: fan
                table: fan_follows
                where: unfollowed_on is null
                columns:
                  id: uuid(id)
                  fan_id: fan_user_id
                  celebrity_id: celeb_user_id
                  followed_on: utc(followed_on)
                  unfollowed_on: utc(unfollowed_on)
                  notifications: notifications
        """;

    private static JsonObject Follow(string? unfollowed) => new()
    {
        ["id"] = "0cc175b9c0f1b6a831c399e269772661",
        ["fan_user_id"] = "11111111-1111-1111-1111-111111111111",
        ["celeb_user_id"] = "22222222-2222-2222-2222-222222222222",
        ["followed_on"] = "2024-03-01 10:00:00.123456+00",
        ["unfollowed_on"] = unfollowed,
        ["notifications"] = "[\"EMAIL\"]",
    };

    [Fact]
    public void follow_maps_md5_id_to_uuid_and_converts_timestamps_in_utc()
    {
        var op = Assert.Single(Map(Bind(Follows), Change("fan", "fan_follows", ChangeOp.Create, new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }, Follow(null))));
        Assert.Equal(RowOpKind.Upsert, op.Op);
        Assert.Equal("0cc175b9-c0f1-b6a8-31c3-99e269772661", op.Key!["id"]!.GetValue<string>());
        Assert.Equal("2024-03-01 10:00:00.123456", op.Row!["followed_on"]!.GetValue<string>());
        Assert.Null(op.Row["unfollowed_on"]);
        Assert.Equal("[\"EMAIL\"]", op.Row["notifications"]!.GetValue<string>());
        Assert.Null(op.Claim);
    }

    [Fact]
    public void unfollow_turns_into_delete_when_filter_no_longer_matches()
    {
        var op = Assert.Single(Map(Bind(Follows), Change("fan", "fan_follows", ChangeOp.Update, new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }, Follow("2024-04-01 00:00:00+00"))));
        Assert.Equal(RowOpKind.Delete, op.Op);
        Assert.Equal("0cc175b9-c0f1-b6a8-31c3-99e269772661", op.Key!["id"]!.GetValue<string>());
    }

    [Fact]
    public void insert_that_does_not_match_the_filter_produces_nothing_but_a_snapshot_read_deletes()
    {
        var m = Bind(Follows);
        Assert.Empty(Map(m, Change("fan", "fan_follows", ChangeOp.Create, new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }, Follow("2024-04-01 00:00:00+00"))));
        Assert.Equal(RowOpKind.Delete, Assert.Single(Map(m, Change("fan", "fan_follows", ChangeOp.Read, new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }, Follow("2024-04-01 00:00:00+00")))).Op);
    }

    [Fact]
    public void delete_maps_the_key_from_the_source_key_alone()
    {
        var op = Assert.Single(Map(Bind(Follows), Change("fan", "fan_follows", ChangeOp.Delete, new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }, null,
            new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" })));
        Assert.Equal(RowOpKind.Delete, op.Op);
        Assert.Equal("0cc175b9-c0f1-b6a8-31c3-99e269772661", op.Key!["id"]!.GetValue<string>());
    }

    [Fact]
    public void key_change_deletes_the_old_target_key_then_upserts_the_new()
    {
        var after = Follow(null);
        after["id"] = "92eb5ffee6ae2fec3ad71c777531578f";
        var ops = Map(Bind(Follows), Change("fan", "fan_follows", ChangeOp.Update, new JsonObject { ["id"] = "92eb5ffee6ae2fec3ad71c777531578f" }, after,
            new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }));
        Assert.Collection(ops,
            d => Assert.Equal(("0cc175b9-c0f1-b6a8-31c3-99e269772661", RowOpKind.Delete), (d.Key!["id"]!.GetValue<string>(), d.Op)),
            u => Assert.Equal(("92eb5ffe-e6ae-2fec-3ad7-1c777531578f", RowOpKind.Upsert, 1), (u.Key!["id"]!.GetValue<string>(), u.Op, u.Sub)));
    }

    [Fact]
    public void an_id_that_is_not_md5_hex_parks_the_change_naming_the_target_table()
    {
        var row = Follow(null);
        row["id"] = "not-a-uuid";
        var e = Assert.Throws<MappingException>(() => Map(Bind(Follows), Change("fan", "fan_follows", ChangeOp.Create, new JsonObject { ["id"] = "not-a-uuid" }, row)));
        Assert.Contains("is not a UUID", e.Message);
        Assert.Equal(new TableId("public", "fan_follows"), e.TargetTable);
    }

    [Fact]
    public void null_comparison_never_passes_a_filter()
    {
        var m = Bind(Follows.Replace("where: unfollowed_on is null", "where: unfollowed_on < followed_on", StringComparison.Ordinal));
        Assert.Empty(Map(m, Change("fan", "fan_follows", ChangeOp.Create, new JsonObject { ["id"] = "0cc175b9c0f1b6a831c399e269772661" }, Follow(null))));
    }

    private const string Wallet = """
        tables:
          - table: transactions
            from:
              - source: wallet
                table: create_transaction
                columns:
                  id: uuid_v5('wallet_transaction', id)
                  amount: cents(amount)
                  item_id: lookup('inventory_item_by_item_id', item_id)
                  user_id: user_id
        """;

    private static RawChange Posting(string amount, string? item = "SHOUTOUT-1") => Change("wallet", "create_transaction", ChangeOp.Create, new JsonObject { ["id"] = 42 },
        new JsonObject { ["id"] = 42, ["amount"] = amount, ["item_id"] = item, ["user_id"] = "11111111-1111-1111-1111-111111111111" });

    [Fact]
    public void cents_is_exact_and_lookup_is_left_to_the_sink()
    {
        var op = Assert.Single(Map(Bind(Wallet), Posting("10.5000")));
        Assert.Equal(1050, op.Row!["amount"]!.GetValue<long>());
        Assert.Equal(Functions.UuidV5(Functions.NamespaceOf("wallet_transaction"), "42").ToString(), op.Key!["id"]!.GetValue<string>());
        Assert.Equal("""{"$lookup":{"kind":"inventory_item_by_item_id","key":"SHOUTOUT-1"}}""", op.Row["item_id"]!.ToJsonString());
        Assert.Null(Assert.Single(Map(Bind(Wallet), Posting("1.00", item: null))).Row!["item_id"]);
    }

    [Theory]
    [InlineData("10.0050", "sub-cent")]
    [InlineData("21474836.48", "beyond the range of integer")]
    [InlineData("-21474836.49", "beyond the range of integer")]
    [InlineData("123456789012345678901234567890.12", "is beyond bigint")]
    public void lossy_money_is_parked_never_rounded(string amount, string why)
    {
        var e = Assert.Throws<MappingException>(() => Map(Bind(Wallet), Posting(amount)));
        Assert.StartsWith("public.transactions: lossy cast:", e.Message, StringComparison.Ordinal);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void the_largest_and_smallest_int_cents_still_fit()
    {
        Assert.Equal(int.MaxValue, Assert.Single(Map(Bind(Wallet), Posting("21474836.4700"))).Row!["amount"]!.GetValue<long>());
        Assert.Equal(int.MinValue, Assert.Single(Map(Bind(Wallet), Posting("-21474836.48"))).Row!["amount"]!.GetValue<long>());
    }

    [Fact]
    public void exact_decimals_multiply_beyond_system_decimal_without_rounding()
    {
        var a = ExactDecimal.Parse("12345678901234567890.123456789012345");
        var b = ExactDecimal.Parse("3");
        Assert.Equal("37037036703703703670.370370367037035", (a * b).ToString());
        Assert.Equal("-0.0001", ExactDecimal.Parse("-1e-4").ToString());
        Assert.True(ExactDecimal.Parse("10.00").IsWhole);
    }

    [Fact]
    public void uuid_v5_matches_the_rfc_4122_example_and_md5_uuid_matches_postgresql()
    {
        // python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
        Assert.Equal("886313e1-3b8a-5372-9b90-0c9aee199e5d", Functions.UuidV5(Guid.Parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "python.org").ToString());
        // SELECT md5('a')::uuid
        Assert.Equal("0cc175b9-c0f1-b6a8-31c3-99e269772661", Functions.ParseUuid(Functions.Md5Hex("a")));
    }

    [Theory]
    [InlineData("2024-01-01 12:00:00.5+00", "2024-01-01 12:00:00.5")]
    [InlineData("2024-01-01 02:30:00.000001+05:30", "2023-12-31 21:00:00.000001")]
    [InlineData("2024-01-01T12:00:00Z", "2024-01-01 12:00:00")]
    [InlineData("0044-03-15 12:00:00+00 BC", "0044-03-15 12:00:00 BC")]
    [InlineData("infinity", "infinity")]
    public void utc_converts_exactly(string input, string expected) => Assert.Equal(expected, Timestamps.ToUtc(input));

    private const string Tags = """
        tables:
          - table: profile_tags
            from:
              - source: celebrity
                table: celebrity_profile_tags
                explode: {column: tags, as: tag}
                columns:
                  profile_id: celebrity_user_id
                  tag_id: tag
        """;

    [Fact]
    public void array_column_explodes_into_a_replace_scoped_to_its_source_row()
    {
        var after = new JsonObject
        {
            ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111",
            ["tags"] = new JsonArray("aaaaaaaa-0000-0000-0000-000000000001", null, "aaaaaaaa-0000-0000-0000-000000000002", "aaaaaaaa-0000-0000-0000-000000000001"),
        };
        var op = Assert.Single(Map(Bind(Tags), Change("celebrity", "celebrity_profile_tags", ChangeOp.Update, new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111" }, after)));
        Assert.Equal(RowOpKind.Replace, op.Op);
        Assert.Null(op.Key);
        Assert.Equal(["aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002"], op.Rows!.Select(r => r["tag_id"]!.GetValue<string>()));
        Assert.Equal("11111111-1111-1111-1111-111111111111", op.Origin.Key["celebrity_user_id"]!.GetValue<string>());
    }

    [Fact]
    public void deleting_the_source_row_of_an_exploded_array_deletes_every_row_it_owns_and_unchanged_arrays_emit_nothing()
    {
        var m = Bind(Tags);
        var key = new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111" };
        var op = Assert.Single(Map(m, Change("celebrity", "celebrity_profile_tags", ChangeOp.Delete, key, null, key)));
        Assert.Equal((RowOpKind.Delete, (JsonObject?)null), (op.Op, op.Key));
        Assert.Empty(Map(m, Change("celebrity", "celebrity_profile_tags", ChangeOp.Update, key, new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111" }, null, "tags")));
    }

    private const string Files = """
        tables:
          - table: media_files
            from:
              - source: content
                table: files
                columns:
                  id: content_id
                  media_type: case when mime_type like 'image/%' then 'IMAGE' when mime_type in ('video/mp4', 'video/webm') then 'VIDEO' else 'DOCUMENT' end
                  storage_url: id
        """;

    [Fact]
    public void a_target_key_from_a_non_key_column_replaces_what_the_source_row_owns()
    {
        var m = Bind(Files);
        var op = Assert.Single(Map(m, Change("content", "files", ChangeOp.Update, new JsonObject { ["id"] = "o/c/x.png" },
            new JsonObject { ["id"] = "o/c/x.png", ["content_id"] = "33333333-3333-3333-3333-333333333333", ["mime_type"] = "image/png" })));
        Assert.Equal(RowOpKind.Replace, op.Op);
        Assert.Equal("IMAGE", Assert.Single(op.Rows!)["media_type"]!.GetValue<string>());
        var video = Assert.Single(Map(m, Change("content", "files", ChangeOp.Create, new JsonObject { ["id"] = "v" },
            new JsonObject { ["id"] = "v", ["content_id"] = "33333333-3333-3333-3333-333333333334", ["mime_type"] = "video/webm" })));
        Assert.Equal("VIDEO", video.Rows![0]["media_type"]!.GetValue<string>());
        Assert.Equal(RowOpKind.Delete, Assert.Single(Map(m, Change("content", "files", ChangeOp.Delete, new JsonObject { ["id"] = "v" }, null))).Op);
    }

    private const string Profiles = """
        tables:
          - table: profiles
            conflict: {rule: priority, order: [celebrity, fan]}
            from:
              - source: celebrity
                table: celebrity_profiles
                columns:
                  id: celebrity_user_id
                  profile_type: "'CELEBRITY'"
                  display_name: display_name
                  meta_data: json_set(meta_data, 'n', 1, 'name', display_name, 'missing', null)
                  created_on: utc(created_on)
              - source: fan
                table: fan_profiles
                columns:
                  id: fan_user_id
                  profile_type: "'FAN'"
                  meta_data: meta_data
                  created_on: utc(created_on)
        identities:
          - kind: profile_by_keycloak_id
            from:
              - {source: fan, table: fan_profiles, legacy_key: fan_user_id, id: fan_user_id}
        """;

    [Fact]
    public void priority_rule_gives_each_source_its_rank_and_identities_replace_their_registration()
    {
        var m = Bind(Profiles);
        var fan = Map(m, Change("fan", "fan_profiles", ChangeOp.Create, new JsonObject { ["fan_user_id"] = "11111111-1111-1111-1111-111111111111" },
            new JsonObject { ["fan_user_id"] = "11111111-1111-1111-1111-111111111111", ["meta_data"] = null, ["created_on"] = "2024-01-01 00:00:00+00" }));
        Assert.Equal(2, fan.Count);
        Assert.Equal(new ConflictClaim(ConflictMode.Priority, 1), fan[0].Claim);
        var identity = fan[1];
        // The legacy key follows from the source key, so the registration is keyed (an upsert by kind + legacy key).
        Assert.Equal((RowOpKind.Upsert, "peeq_cdc.identity_map"), (identity.Op, identity.Table.ToString()));
        Assert.Equal("""{"kind":"profile_by_keycloak_id","legacy_key":"11111111-1111-1111-1111-111111111111"}""", identity.Key!.ToJsonString());
        Assert.Equal("""{"kind":"profile_by_keycloak_id","source":"fan","legacy_key":"11111111-1111-1111-1111-111111111111","id":"11111111-1111-1111-1111-111111111111"}""",
            identity.Row!.ToJsonString());
        var celeb = Assert.Single(Map(m, Change("celebrity", "celebrity_profiles", ChangeOp.Create, new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111" },
            new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111", ["display_name"] = "Zoë", ["meta_data"] = "{\"a\": 1}", ["created_on"] = "2024-01-01 00:00:00+00" })));
        Assert.Equal(new ConflictClaim(ConflictMode.Priority, 0), celeb.Claim);
        Assert.Equal("""{"a":1,"n":1,"name":"Zoë"}""", celeb.Row!["meta_data"]!.GetValue<string>());
    }

    [Fact]
    public void too_long_text_for_varchar_is_lossy_and_not_null_target_columns_never_get_null()
    {
        var m = Bind(Profiles);
        var key = new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111" };
        var e = Assert.Throws<MappingException>(() => Map(m, Change("celebrity", "celebrity_profiles", ChangeOp.Create, key,
            new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111", ["display_name"] = "ünïcødé 🚀 x", ["meta_data"] = null, ["created_on"] = "2024-01-01 00:00:00+00" })));
        Assert.Contains("lossy cast: display_name is 11 characters long", e.Message);
        Assert.Single(Map(m, Change("celebrity", "celebrity_profiles", ChangeOp.Create, key,
            new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111", ["display_name"] = "ünïcødé 🚀", ["meta_data"] = null, ["created_on"] = "2024-01-01 00:00:00+00" })));
    }

    [Fact]
    public void unchanged_toast_value_stays_unchanged_and_a_value_mixing_it_with_changed_columns_parks()
    {
        var m = Bind(Profiles);
        var key = new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111" };
        var e = Assert.Throws<MappingException>(() => Map(m, Change("celebrity", "celebrity_profiles", ChangeOp.Update, key,
            new JsonObject { ["celebrity_user_id"] = "11111111-1111-1111-1111-111111111111", ["display_name"] = "A", ["created_on"] = "2024-01-01 00:00:00+00" }, null, "meta_data")));
        Assert.Contains("not re-sent", e.Message);
        var fan = Map(m, Change("fan", "fan_profiles", ChangeOp.Update, new JsonObject { ["fan_user_id"] = "11111111-1111-1111-1111-111111111111" },
            new JsonObject { ["fan_user_id"] = "11111111-1111-1111-1111-111111111111", ["created_on"] = "2024-01-01 00:00:00+00" }, null, "meta_data"));
        Assert.Equal(["meta_data"], fan[0].Unchanged);
        Assert.False(fan[0].Row!.ContainsKey("meta_data"));
    }

    [Fact]
    public void type_errors_name_file_line_and_column_and_suggest_the_declared_cast()
    {
        var e = BindFails("""
            tables:
              - table: fan_follows
                from:
                  - source: fan
                    table: fan_follows
                    columns:
                      id: uuid(id)
                      fan_id: fan_user_id
                      celebrity_id: celeb_user_id
                      followed_on: followed_on
                      notifications: coalesce(notifications, fan_usr_id)
            """);
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:12:", StringComparison.Ordinal) && p.Contains("utc(x)"));
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:13:50:", StringComparison.Ordinal) && p.Contains("did you mean 'fan_user_id'"));
    }

    [Fact]
    public void numeric_into_int_needs_a_declared_exact_cast_and_syntax_errors_point_at_the_token()
    {
        var e = BindFails(Wallet.Replace("cents(amount)", "amount", StringComparison.Ordinal).Replace("user_id: user_id", "user_id: (user_id", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("cents(x)"));
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:12:", StringComparison.Ordinal) && p.Contains("expected ')'"));
    }

    [Fact]
    public void unknown_tables_columns_and_keys_in_the_file_are_errors_with_positions()
    {
        var e = BindFails("""
            tables:
              - table: fan_folows
                from:
                  - {source: fan, table: fan_follows, columns: {id: uuid(id)}}
              - table: profiles
                from:
                  - source: fan
                    table: fan_profile
                    columns: {id: fan_user_id}
            """);
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:4:", StringComparison.Ordinal) && p.Contains("target table public.fan_folows does not exist"));
        Assert.Contains(e.Problems, p => p.StartsWith("m.yaml:9:", StringComparison.Ordinal) && p.Contains("table public.fan_profile does not exist in source 'fan'"));
        var syntax = BindFails("""
            tables:
              - table: profiles
                from:
                  - source: fan
                    table: fan_profiles
                    colums: {}
            """);
        Assert.Contains(syntax.Problems, p => p.StartsWith("m.yaml:8:9:", StringComparison.Ordinal) && p.Contains("unknown key 'colums'") && p.Contains("did you mean 'columns'"));
    }

    [Fact]
    public void a_sensitive_column_can_only_be_copied_into_a_column_of_its_own_name()
    {
        var e = BindFails("""
            tables:
              - table: vault_namespaces
                from:
                  - source: vault
                    table: vault_namespaces
                    columns:
                      namespace_id: namespace_id
                      other_key: private_key
            """);
        Assert.Contains(e.Problems, p => p.Contains("private_key is a sensitive column"));
        var m = Bind("""
            tables:
              - table: vault_namespaces
                from:
                  - {source: vault, table: vault_namespaces, columns: {namespace_id: namespace_id, private_key: private_key}}
            """);
        var sealedValue = new JsonObject { ["$enc"] = "v1:abc" };
        var op = Assert.Single(Map(m, Change("vault", "vault_namespaces", ChangeOp.Create, new JsonObject { ["namespace_id"] = "n" },
            new JsonObject { ["namespace_id"] = "n", ["private_key"] = sealedValue })));
        Assert.Equal("""{"$enc":"v1:abc"}""", op.Row!["private_key"]!.ToJsonString());
    }

    [Fact]
    public void schema_change_dropping_or_narrowing_a_mapped_column_parks_the_table_and_an_added_column_is_fine()
    {
        var m = Bind(Wallet);
        var table = new TableId("public", "create_transaction");
        SourceColumn[] Cols(string amountType, bool withItem = true, bool extra = false) =>
        [
            new("id", "bigint", true), new("amount", amountType, false), new("user_id", "uuid", false),
            .. withItem ? new[] { new SourceColumn("item_id", "character varying(255)", false) } : [],
            .. extra ? new[] { new SourceColumn("note", "text", false) } : [],
        ];
        Assert.Null(m.CheckSchema("wallet", table, Cols("numeric(19,4)", extra: true)));
        Assert.Null(m.CheckSchema("wallet", table, Cols("numeric(21,4)")));
        Assert.Contains("item_id was dropped", m.CheckSchema("wallet", table, Cols("numeric(21,4)", withItem: false)));
        Assert.Contains("changed from numeric(21,4) to numeric(10,2)", m.CheckSchema("wallet", table, Cols("numeric(10,2)")) ?? "");
        Assert.Null(m.CheckSchema("wallet", new TableId("public", "unmapped"), Cols("text")));
    }

    [Fact]
    public void expression_language_evaluates_like_sql()
    {
        Assert.Equal("b", Eval("case when 1 = 2 then 'a' when 'x' like 'x%' then 'b' end"));
        Assert.Equal("NULL", Eval("case 'q' when 'p' then 'a' end"));
        Assert.Equal("7", Eval("coalesce(null, 3 + 4, 9)"));
        Assert.Equal("NULL", Eval("'a' || null"));
        Assert.Equal("ab", Eval("concat('a', null, 'b')"));
        Assert.Equal("true", Eval("null is null and not (1 in (2, 3))"));
        Assert.Equal("NULL", Eval("1 in (2, null)"));
        Assert.Equal("true", Eval("true or null"));
        Assert.Equal("1.50", Eval("0.5 * 3.0"));
        Assert.Equal("true", Eval("starts_with(lower('ABC'), 'ab')"));
    }

    private static string Eval(string expression, bool json = false)
    {
        var e = Parser.Parse(expression);
        e.Check(new EmptyScope());
        return Values.Describe(e.Eval(new EmptyRow()));
    }

    private sealed class EmptyScope : IScope
    {
        public SqlType? TypeOf(string name) => null;

        public IEnumerable<string> Names => [];
    }

    private sealed class EmptyRow : IRow
    {
        public Value Get(string name) => throw new InvalidOperationException(name);
    }

    [Fact]
    public void json_paths_read_nested_values()
    {
        var scope = new DocScope();
        var e = Parser.Parse("json_text(doc, 'a.b[1]') || '/' || (doc->'a'->>'c')");
        e.Check(scope);
        Assert.Equal("y/{\"d\":1}", Values.Describe(e.Eval(new DocRow())));
    }

    private sealed class DocScope : IScope
    {
        public SqlType? TypeOf(string name) => name == "doc" ? SqlType.Jsonb : null;

        public IEnumerable<string> Names => ["doc"];
    }

    private sealed class DocRow : IRow
    {
        public Value Get(string name) => new JsonValueDoc("""{"a": {"b": ["x", "y"], "c": {"d": 1}}}""", SqlType.Jsonb);
    }

    private sealed class Reverse : ICustomFunction
    {
        public string Name => "test_reverse";

        public string Description => "test_reverse(s): s reversed";

        public SqlType ReturnType(IReadOnlyList<SqlType> argumentTypes) =>
            argumentTypes.Count == 1 && argumentTypes[0].IsString ? SqlType.Text : throw new ArgumentException("takes one text");

        public Value Invoke(IReadOnlyList<Value> arguments) =>
            arguments[0] is TextValue t ? new TextValue(new string(t.V.Reverse().ToArray()), SqlType.Text) : Value.Null;
    }

    [Fact]
    public void escape_hatch_function_registered_in_csharp_is_called_like_a_built_in()
    {
        Functions.Register(new Reverse());
        var m = Bind(Files.Replace("storage_url: id", "storage_url: test_reverse(id)", StringComparison.Ordinal));
        var op = Assert.Single(Map(m, Change("content", "files", ChangeOp.Create, new JsonObject { ["id"] = "abc" },
            new JsonObject { ["id"] = "abc", ["content_id"] = "33333333-3333-3333-3333-333333333333", ["mime_type"] = null })));
        Assert.Equal("cba", op.Rows![0]["storage_url"]!.GetValue<string>());
        Assert.Contains(BindFails(Files.Replace("storage_url: id", "storage_url: test_reverse(1)", StringComparison.Ordinal)).Problems, p => p.Contains("takes one text"));
    }
}
