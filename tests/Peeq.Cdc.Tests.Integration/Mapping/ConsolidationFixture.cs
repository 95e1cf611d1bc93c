namespace Peeq.Cdc.Tests.Integration.Mapping;

/// <summary>
/// A compact, deterministic data set for the 22 legacy schemas, written for the consolidation test (not by the
/// workload generator): rows loaded before the pipeline starts (snapshot) and changes made while it streams,
/// with the edge cases the mappings must handle: a person who is both fan and celebrity, a file in content-db
/// and media-db, two content-db files with one content_id, a broadcast also in stream-db, a vault namespace in
/// both vaults, lossy money, NULLs in NOT NULL target columns, soft deletes, unfollows, exploded arrays with
/// duplicates, orphans (a follow of an unknown celebrity, an item id no inventory item has), unicode.
/// </summary>
public static class ConsolidationFixture
{
    // People
    public const string C1 = "c0000000-0000-4000-8000-000000000001";
    public const string C2 = "c0000000-0000-4000-8000-000000000002";
    public const string Both = "ab000000-0000-4000-8000-0000000000ab";
    public const string F1 = "f0000000-0000-4000-8000-000000000001";
    public const string F2 = "f0000000-0000-4000-8000-000000000002";
    public const string Ghost = "99999999-0000-4000-8000-000000000099";

    // Groups, tags
    public const string G1 = "60000000-0000-4000-8000-000000000001";
    public const string G2 = "60000000-0000-4000-8000-000000000002";
    public const string G3 = "60000000-0000-4000-8000-000000000003";
    public const string T1 = "70000000-0000-4000-8000-000000000001";
    public const string T2 = "70000000-0000-4000-8000-000000000002";
    public const string T3 = "70000000-0000-4000-8000-000000000003";

    // Files
    public const string M1 = "d0000000-0000-4000-8000-000000000001";
    public const string M2 = "d0000000-0000-4000-8000-000000000002";
    public const string M3 = "d0000000-0000-4000-8000-000000000003";
    public const string K2 = "d0000000-0000-4000-8000-0000000000c2";
    public const string K3 = "d0000000-0000-4000-8000-0000000000c3";
    public const string K4 = "d0000000-0000-4000-8000-0000000000c4";

    // Inventory
    public const string Inv1 = "a0000000-0000-4000-8000-000000000001";
    public const string Inv2 = "a0000000-0000-4000-8000-000000000002";
    public const string Inv3 = "a0000000-0000-4000-8000-000000000003";

    // Events
    public const string E1 = "e0000000-0000-4000-8000-000000000001";
    public const string E2 = "e0000000-0000-4000-8000-000000000002";
    public const string E3 = "e0000000-0000-4000-8000-000000000003";
    public const string Oe1 = "e0000000-0000-4000-8000-0000000000a1";
    public const string Cl1 = "c1000000-0000-4000-8000-000000000001";
    public const string Cl2 = "c1000000-0000-4000-8000-000000000002";
    public const string Ss1 = "5e000000-0000-4000-8000-000000000001";

    /// <summary>Rows present before the pipeline starts, per source.</summary>
    public static readonly Dictionary<string, string> Snapshot = new()
    {
        ["celebrity"] = $$"""
            INSERT INTO celebrity_profiles (celebrity_user_id, first_name, last_name, display_name, bio, status, store_code, display_weight, meta_data, created_on) VALUES
              ('{{C1}}', 'Zoë', 'Ångström', 'Zoë Å', 'Surfer 🏄', 'ACTIVE', 'ZOE', 10, '{"tier": "gold"}', '2024-01-01 10:00:00.123456+00'),
              ('{{Both}}', 'Pat', NULL, 'Pat', 'both fan and celebrity', 'ACTIVE', NULL, NULL, NULL, '2024-01-02 08:00:00-05'),
              ('{{C2}}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-03 00:00:00+00');
            INSERT INTO celebrity_profile_status_history VALUES ('51000000-0000-4000-8000-000000000001', '{{C1}}', 'ACTIVE', '2024-01-01 10:00:00+00', '{"from": "PENDING"}');
            INSERT INTO celebrity_profile_image VALUES ('11000000-0000-4000-8000-000000000001', '{{C1}}', 'https://cdn.example/zoe.png', '2024-01-01 10:00:00+00');
            INSERT INTO celebrity_profile_tags VALUES ('{{C1}}', '{{{T1}},{{T2}},{{T1}}}'), ('{{Both}}', '{}');
            INSERT INTO celebrity_profile_banners VALUES ('21000000-0000-4000-8000-000000000001', '{{C1}}', 'https://cdn.example/banner.png', 1, '2024-01-01 11:00:00+00');
            INSERT INTO profile_short_links VALUES ('31000000-0000-4000-8000-000000000001', '{{C1}}', 'zoe', '2024-01-01 10:00:00+00');
            INSERT INTO cameo_offer (id, celebrity_user_id, price, currency, is_available, created_on) VALUES ('41000000-0000-4000-8000-000000000001', '{{C1}}', 50.00, 'USD', true, '2024-01-01 10:00:00+00');
            INSERT INTO shoutout_offer (id, celebrity_user_id, price, currency, is_available, created_on) VALUES ('41000000-0000-4000-8000-000000000002', '{{C1}}', 20.00, 'USD', true, '2024-01-01 10:00:00+00');
            """,
        ["fan"] = $$"""
            INSERT INTO fan_profiles (fan_user_id, meta_data, created_on) VALUES
              ('{{F1}}', NULL, '2024-02-01 12:00:00+00'),
              ('{{Both}}', '{"fan": true}', '2024-02-02 12:00:00+00'),
              ('{{F2}}', '{"name": "Łukasz 🎸"}', '2024-02-03 12:00:00.5+02');
            INSERT INTO fan_follows VALUES
              (md5('{{F1}}' || '{{C1}}'), '{{F1}}', '{{C1}}', '2024-02-05 00:00:00+00', NULL, '["EMAIL", "PUSH"]'),
              (md5('{{F2}}' || '{{C1}}'), '{{F2}}', '{{C1}}', '2024-02-05 00:00:00+00', '2024-02-06 00:00:00+00', NULL),
              (md5('{{Both}}' || '{{C1}}'), '{{Both}}', '{{C1}}', '2024-02-07 00:00:00+00', NULL, '[]'),
              (md5('{{F1}}' || '{{Ghost}}'), '{{F1}}', '{{Ghost}}', '2024-02-08 00:00:00+00', NULL, NULL);
            INSERT INTO fan_follow_changes VALUES ('{{F1}}', '{{C1}}', '2024-02-05 00:00:00+00', '{"action": "FOLLOW"}');
            """,
        ["group-profile"] = $$"""
            INSERT INTO group_profiles (profile_id, name, description, group_profile_type, is_approved, is_deleted, owner_id, parent_group_profile_id, meta_data, created_on) VALUES
              ('{{G1}}', 'Wave Riders', 'Surf team', 'TEAM', true, false, '{{C1}}', NULL, NULL, '2024-01-05 09:00:00.25'),
              ('{{G2}}', 'Juniors', NULL, NULL, false, false, NULL, '{{G1}}', '{"k": 1}', '2024-01-06 09:00:00'),
              ('{{G3}}', 'Old crew', 'gone', 'TEAM', true, true, NULL, NULL, NULL, '2024-01-07 09:00:00');
            INSERT INTO profile_thumbnails VALUES ('61000000-0000-4000-8000-000000000001', '{{G1}}', 'https://cdn.example/wave.png', '2024-01-05 09:00:00');
            INSERT INTO group_profile_tags VALUES ('{{T1}}', 'Surf', '2024-01-05 09:00:00');
            INSERT INTO group_profile_celebs VALUES ('{{C1}}', 'Zoë', '2024-01-05 09:00:00');
            INSERT INTO profile_tags_association VALUES ('{{G1}}', '{{T1}}');
            INSERT INTO profile_celebs_association VALUES ('{{G1}}', '{{C1}}');
            """,
        ["content"] = $$"""
            INSERT INTO files VALUES
              ('o/1/a.png', '{{M1}}', 2048, 'image/png', 'a.png', '{{C1}}', '0cc175b9c0f1b6a831c399e269772661', '2024-03-01 00:00:00+00'),
              ('o/2/doc.pdf', '{{K2}}', 999, 'application/pdf', 'doc.pdf', '{{C1}}', NULL, '2024-03-02 00:00:00+00'),
              ('o/3/x.mp4', '{{K3}}', 5000, 'video/mp4', 'x.mp4', '{{C2}}', NULL, '2024-03-03 00:00:00+00'),
              ('o/3/x-copy.mp4', '{{K3}}', 5000, 'video/mp4', 'x-copy.mp4', '{{C2}}', NULL, '2024-03-03 00:00:01+00');
            """,
        ["media"] = $$"""
            INSERT INTO files (content_id, owner_id, name, content_length, content_md5, mime_type, url, duration, height, width, type, state, price, currency, media_info, created_on) VALUES
              ('{{M1}}', '{{C1}}', 'a.png', 2048, '0cc175b9c0f1b6a831c399e269772661', 'image/png', 'https://cdn.example/a.png', NULL, 600, 800, 'photo', 'READY', 10.00, 'USD', '{"exif": {"iso": 100} }', '2024-03-01 00:00:00+00'),
              ('{{M2}}', '{{C1}}', 'clip.mp4', 1048576, NULL, 'video/mp4', 'https://cdn.example/clip.mp4', 61, 1080, 1920, 'video', 'PROCESSING', NULL, NULL, NULL, '2024-03-04 00:00:00+00'),
              ('{{M3}}', '{{C2}}', 'song.mp3', 4000, NULL, 'audio/mpeg', NULL, 200, NULL, NULL, NULL, 'READY', NULL, NULL, NULL, '2024-03-05 00:00:00+00');
            INSERT INTO files_price_history VALUES ('d1000000-0000-4000-8000-000000000001', '{{M1}}', NULL, 10.00, '2024-03-01 00:00:00+00');
            INSERT INTO files_state_history VALUES ('d2000000-0000-4000-8000-000000000001', '{{M1}}', 'PROCESSING', 'READY', '2024-03-01 00:00:00+00');
            """,
        ["shoutout"] = $$"""
            INSERT INTO mux_stream (id, created_by_id, inventory_item_id, name, description, stream_state, stream_key, mux_info, inventory_info, created_on) VALUES
              ('5a000000-0000-4000-8000-000000000001', '{{C1}}', 'SHOUTOUT-zoe', 'Happy birthday, Sam', NULL, 'idle', 'sk-1', '{"playback": "p1"}', '{"price": 25}', '2024-04-01 00:00:00+00'),
              ('5a000000-0000-4000-8000-000000000002', '{{C1}}', 'SHOUTOUT-missing', NULL, NULL, 'idle', 'sk-2', NULL, NULL, '2024-04-02 00:00:00+00'),
              ('5a000000-0000-4000-8000-000000000003', '{{C2}}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-04-03 00:00:00+00');
            """,
        ["mux-livestream"] = $$"""
            INSERT INTO mux_livestreams (livestream_id, name, description, stream_key, stream_state, mux_info, inventory_info, group_id, created_by, created_on) VALUES
              ('5b000000-0000-4000-8000-000000000001', 'Live surf', 'from the beach', 'lk-1', 'idle', NULL, '{"id": "{{Inv2}}", "itemId": "CLASS-surf"}', '{{G1}}', '{{C1}}', '2024-04-05 00:00:00+00'),
              ('5b000000-0000-4000-8000-000000000002', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{{C2}}', '2024-04-06 00:00:00+00');
            """,
        ["inventory"] = $$"""
            INSERT INTO inventory_item (id, item_id, type, state, price, quantity, created_by_id, currency, associated_series, associated_subscriptions, associated_tags, keywords, restricted_users,
                                        recurring_payment, auto_expires, is_refundable, limit_per_fan, metadata, created_on) VALUES
              ('{{Inv1}}', 'SHOUTOUT-zoe', 'SHOUTOUT', 'ACTIVE', 25.00, 10, '{{C1}}', 'USD', NULL, NULL, '{{{T1}}}', '{birthday,"shout out"}', NULL, NULL, NULL, true, 2, '{"lang": "en"}', '2024-01-10 00:00:00+00'),
              ('{{Inv2}}', 'CLASS-surf', 'CLASS', 'ACTIVE', 99.99, NULL, '{{C1}}', 'EUR', '{}', NULL, NULL, NULL, '{{{F2}}}', 'MONTHLY', 30, false, NULL, NULL, '2024-01-11 00:00:00+00'),
              ('{{Inv3}}', 'EVENT-huge', 'EVENT', 'DRAFT', 99999999.99, NULL, '{{C2}}', 'USD', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-12 00:00:00+00');
            INSERT INTO inventory_item_price_history VALUES ('a1000000-0000-4000-8000-000000000001', '{{Inv1}}', 20.00, 25.00, '2024-01-15 00:00:00+00');
            INSERT INTO inventory_item_quantity_history VALUES ('a2000000-0000-4000-8000-000000000001', '{{Inv1}}', 12, 10, '2024-01-16 00:00:00+00');
            INSERT INTO inventory_item_state_history VALUES ('a3000000-0000-4000-8000-000000000001', '{{Inv1}}', 'DRAFT', 'ACTIVE', '2024-01-14 00:00:00+00');
            """,
        ["wallet"] = $$"""
            INSERT INTO balance_transaction (id, user_id, balance, currency, updated_at) VALUES
              (1, '{{F1}}', 100.5000, 'USD', '2024-05-01 00:00:00+00'),
              (2, '{{C1}}', 0.0000, 'EUR', '2024-05-01 00:00:00+00');
            INSERT INTO create_transaction (id, user_id, amount, is_debit, item_id, description, meta_data, created_on, transaction_type) VALUES
              (1, '{{F1}}', 25.0000, true, 'SHOUTOUT-zoe', 'Shoutout for Sam', '{"channel": "app"}', '2024-05-01 00:00:00+00', 'PURCHASE'),
              (2, '{{F1}}', 5.0000, false, NULL, 'Top-up', NULL, '2024-05-01 00:00:01+00', 'CREDIT'),
              (3, '{{F1}}', 25.0000, false, 'SHOUTOUT-zoe', 'Refund', NULL, '2024-05-02 00:00:00+00', 'REFUND'),
              (4, '{{F1}}', 1.0000, true, 'NO-SUCH-ITEM', 'orphan item', NULL, '2024-05-02 00:00:01+00', 'PURCHASE');
            INSERT INTO create_transaction_related_transactions VALUES (3, 1, 'REFUND_OF');
            SELECT setval('create_transaction_id_seq', 100);
            """,
        ["transaction"] = $$"""
            INSERT INTO transactions VALUES
              ('b0000000-0000-4000-8000-000000000001', '{{F1}}', '{{Inv1}}', 'b1000000-0000-4000-8000-000000000001', 25.00, 2, 'USD', 'COMPLETED', '{{F1}}', '2024-05-03 00:00:00+00'),
              ('b0000000-0000-4000-8000-000000000002', '{{F2}}', NULL, NULL, 0.01, 3, NULL, 'PENDING', '{{F2}}', '2024-05-03 00:00:01+00');
            """,
        ["stripe"] = """
            INSERT INTO exchange_rates (id, name, from_currency, to_currency, price, amount, keywords, meta_data, created_on, deleted_on) VALUES
              ('c2000000-0000-4000-8000-000000000001', '1000 tokens', 'USD', 'TKN', 9.99, 1000, '{tokens,"best value"}', NULL, '2024-01-01 00:00:00+00', NULL),
              ('c2000000-0000-4000-8000-000000000002', 'old pack', 'USD', 'TKN', 1.00, 90, NULL, '{"legacy": true}', '2023-01-01 00:00:00+00', '2023-06-01 00:00:00+00');
            """,
        ["subscriptions"] = $$"""
            INSERT INTO subscriptions (id, name, description, recurring_payment, auto_expires, created_by_id, created_on) VALUES
              ('c3000000-0000-4000-8000-000000000001', 'Gold', 'All access', 'MONTHLY', 30, '{{C1}}', '2024-01-01 00:00:00+00'),
              ('c3000000-0000-4000-8000-000000000002', NULL, 'unnamed', 'YEARLY', NULL, '{{C1}}', '2024-01-02 00:00:00+00');
            INSERT INTO series (id, name, description, created_by_id, created_on) VALUES ('c4000000-0000-4000-8000-000000000001', 'Surf basics', NULL, '{{C1}}', '2024-01-03 00:00:00+00');
            """,
        ["broadcast"] = $$"""
            INSERT INTO broadcasts VALUES
              ('{{E1}}', 'SESSION-1', 'SESSION', '{{C1}}', '2024-06-01 00:00:00+00', '2024-06-10 18:00:00+00', '2024-06-10 19:00:00+00', 'Live Q&A', NULL, '{"stream": "m1"}', NULL, '{{{Inv1}},{{Inv2}}}'),
              ('{{E2}}', NULL, NULL, '{{C1}}', '2024-06-02 00:00:00+00', NULL, NULL, 'Duplicate (broadcast side)', NULL, NULL, NULL, NULL);
            """,
        ["stream"] = $$"""
            INSERT INTO streams VALUES
              ('{{E2}}', NULL, NULL, '{{C1}}', '2024-06-02 00:00:00+00', NULL, NULL, 'Duplicate (stream side)', 'kept', NULL, '{"dup": true}', NULL),
              ('{{E3}}', 'USER-{{C2}}', 'USER', '{{C2}}', '2024-06-03 00:00:00+00', '2024-06-04 00:00:00+00', NULL, 'Another', NULL, NULL, NULL, '{}');
            """,
        ["onsite-event"] = $$"""
            INSERT INTO on_site_events (id, name, description, event_date, event_sign_up_type, group_id, inventory_state, inventory_info, created_by, created_on) VALUES
              ('{{Oe1}}', 'Beach day', NULL, '2024-07-01 19:30:00', 'TICKETED', '{{G1}}', 'ACTIVE', '{"id": "{{Inv2}}"}', '{{C1}}', '2024-06-01 00:00:00+00');
            INSERT INTO user_event_checkins VALUES ('e1000000-0000-4000-8000-000000000001', '{{F1}}', '{{Oe1}}', '2024-07-01 19:45:00+02');
            """,
        ["class-catalog"] = $$"""
            INSERT INTO classes (id, name, description, prerequisites, blog_id, group_id, created_by_id, created_on) VALUES
              ('{{Cl1}}', 'Surf 101', 'Learn to surf', NULL, NULL, '{{G1}}', '{{C1}}', '2024-01-20 00:00:00+00'),
              ('{{Cl2}}', 'No description', NULL, NULL, NULL, NULL, '{{C1}}', '2024-01-21 00:00:00+00');
            INSERT INTO class_thumbnails VALUES ('{{Cl1}}', 'https://cdn.example/surf1.png');
            INSERT INTO class_details VALUES ('c5000000-0000-4000-8000-000000000001', '{{Cl1}}', 'Paddling', 'Arms', 1);
            INSERT INTO class_associated_tags VALUES ('{{Cl1}}', '{{T1}}');
            INSERT INTO class_badges VALUES ('{{Cl1}}', 'FIRST_CLASS');
            INSERT INTO sessions (id, class_id, name, attendance_format, inventory_info, original_price, starts_on, stops_on, created_by_id, created_on) VALUES
              ('{{Ss1}}', '{{Cl1}}', 'Morning', 'ONSITE', '{"id": "{{Inv2}}"}', 49.50, '2024-07-02 08:00:00+00', '2024-07-02 10:00:00+00', '{{C1}}', '2024-06-01 00:00:00+00');
            INSERT INTO session_instructors VALUES ('{{Ss1}}', '{{C1}}');
            """,
        ["notification-service"] = $$"""
            INSERT INTO notification_templates (id, template_key, channel, subject, body_template, created_on) VALUES
              ('c6000000-0000-4000-8000-000000000001', 'welcome', 'EMAIL', 'Welcome!', 'Hi [name]', '2024-01-01 00:00:00+00');
            INSERT INTO notifications (id, user_id, template_key, channel, subject, body, status, failure_reason, meta_data, created_on, sent_on) VALUES
              ('c7000000-0000-4000-8000-000000000001', '{{F1}}', 'welcome', 'EMAIL', 'Welcome!', 'Hi Zoë', 'SENT', NULL, NULL, '2024-01-02 00:00:00+00', '2024-01-02 00:00:05+00'),
              ('c7000000-0000-4000-8000-000000000002', '{{F2}}', 'gone-template', 'SMS', NULL, 'Code 1234', 'FAILED', 'bounced', '{"try": 2}', '2024-01-03 00:00:00+00', NULL);
            """,
        ["message-board"] = $$"""
            INSERT INTO message_boards (id, id_str, id_type, name, description, created_by_id, created_on, starts_on, stops_on, associated_item_ids, meta_data) VALUES
              ('c8000000-0000-4000-8000-000000000001', '{{Cl1}}', 'CLASS', 'Surf chat', NULL, '{{C1}}', '2024-02-01 00:00:00+00', NULL, NULL, '{{{Inv2}}}', NULL);
            INSERT INTO members VALUES ('c9000000-0000-4000-8000-000000000001', 'c8000000-0000-4000-8000-000000000001', '{{F1}}', 'F one', '2024-02-01 01:00:00+00', NULL, NULL);
            INSERT INTO messages VALUES ('ca000000-0000-4000-8000-000000000001', 'c8000000-0000-4000-8000-000000000001', 'c9000000-0000-4000-8000-000000000001', 'Hello 👋', 'TEXT', NULL, '2024-02-01 02:00:00+00');
            """,
        ["sse"] = $$"""
            INSERT INTO groups VALUES ('cb000000-0000-4000-8000-000000000001', '{{E1}}', 'EVENT', '{{C1}}', '2024-02-02 00:00:00', NULL, NULL);
            INSERT INTO members VALUES ('cc000000-0000-4000-8000-000000000001', 'cb000000-0000-4000-8000-000000000001', '{{F1}}', '2024-02-02 01:00:00', NULL);
            """,
        ["tags"] = $$"""
            INSERT INTO tags (id, name, description, type, color, thumbnail, keywords, associated_tags, meta_data, created_on, created_by_id) VALUES
              ('{{T1}}', 'Surf', NULL, 'SPORT', '#00AAFF', NULL, '{waves,"big waves"}', '{{{T2}}}', NULL, '2024-01-01 00:00:00+00', '{{C1}}'),
              ('{{T2}}', 'Music', 'Tunes', 'TOPIC', NULL, NULL, NULL, '{}', '{"x": [1, 2]}', '2024-01-01 00:00:00+00', NULL),
              ('{{T3}}', 'Untyped', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01 00:00:00+00', NULL);
            """,
        ["encryption"] = """
            INSERT INTO vault_namespaces VALUES ('general-1', 'PUB-1', 'PRIVATE-1 🔑', 1, '2024-01-01 00:00:00+00', 'svc'), ('shared', 'PUB-G', 'PRIVATE-G', 1, '2024-01-01 00:00:00+00', 'svc');
            INSERT INTO vault_secrets VALUES ('sec-1', 'general-1', 'api-key', 'SECRET-1', '2024-01-01 00:00:00+00', NULL);
            """,
        ["dwolla"] = """
            INSERT INTO vault_namespaces VALUES ('dwolla-1', 'PUB-D', 'PRIVATE-D', 2, '2024-01-01 00:00:00+00', NULL), ('shared', 'PUB-S', 'PRIVATE-S', 1, '2024-01-01 00:00:00+00', NULL);
            INSERT INTO vault_secrets VALUES ('sec-d1', 'dwolla-1', 'funding-source', 'SECRET-D', '2024-01-01 00:00:00+00', '2024-01-02 00:00:00+00');
            """,
    };

    /// <summary>Changes made while the pipeline streams, per source (each statement its own transaction unless grouped).</summary>
    public static readonly Dictionary<string, string[]> Stream = new()
    {
        ["celebrity"] =
        [
            $"UPDATE celebrity_profiles SET display_name = 'Zoë Ångström 🌊', last_name = NULL, last_modified_on = now() WHERE celebrity_user_id = '{C1}'",
            $"UPDATE celebrity_profile_tags SET tags = '{{{T2},{T3}}}' WHERE celebrity_user_id = '{C1}'",
            $"BEGIN; INSERT INTO celebrity_profile_image VALUES ('11000000-0000-4000-8000-000000000002', '{C2}', 'https://cdn.example/c2.png', '2024-08-01 00:00:00+00'); DELETE FROM celebrity_profile_image WHERE id = '11000000-0000-4000-8000-000000000001'; COMMIT",
            $"INSERT INTO celebrity_profile_status_history VALUES ('51000000-0000-4000-8000-000000000002', '{C2}', 'SUSPENDED', '2024-08-02 00:00:00+00', NULL)",
            "DELETE FROM celebrity_profile_banners",
        ],
        ["fan"] =
        [
            $"UPDATE fan_follows SET unfollowed_on = '2024-08-01 00:00:00+00' WHERE id = md5('{F1}' || '{C1}')",
            $"UPDATE fan_follows SET unfollowed_on = NULL, notifications = '[\"SMS\"]' WHERE id = md5('{F2}' || '{C1}')",
            $"INSERT INTO fan_follows VALUES (md5('{F1}' || '{C2}'), '{F1}', '{C2}', '2024-08-03 00:00:00+00', NULL, NULL)",
            $"UPDATE fan_profiles SET meta_data = '{{\"fan\": false}}' WHERE fan_user_id = '{Both}'",
            $"INSERT INTO fan_follow_changes VALUES ('{F1}', '{C1}', '2024-08-01 00:00:00+00', '{{\"action\": \"UNFOLLOW\"}}')",
        ],
        ["group-profile"] =
        [
            $"UPDATE group_profiles SET is_deleted = true WHERE profile_id = '{G2}'",
            $"UPDATE group_profiles SET is_deleted = false, name = 'Old crew (back)' WHERE profile_id = '{G3}'",
            $"INSERT INTO profile_tags_association VALUES ('{G3}', '{T1}')",
        ],
        ["content"] =
        [
            "UPDATE files SET mime_type = 'image/jpeg' WHERE id = 'o/2/doc.pdf'",
            $"INSERT INTO files VALUES ('o/4/new.mp3', '{K4}', 10, 'audio/mpeg', 'new.mp3', '{C2}', NULL, '2024-08-01 00:00:00+00')",
        ],
        ["media"] =
        [
            $"UPDATE files SET state = 'FAILED', last_modified_on = '2024-08-01 12:00:00+03' WHERE content_id = '{M2}'",
            $"DELETE FROM files WHERE content_id = '{M3}'",
        ],
        ["shoutout"] = ["UPDATE mux_stream SET stream_state = 'active', last_modified_on = '2024-08-01 00:00:00+00' WHERE id = '5a000000-0000-4000-8000-000000000001'"],
        ["mux-livestream"] = ["UPDATE mux_livestreams SET stream_state = 'active' WHERE livestream_id = '5b000000-0000-4000-8000-000000000001'"],
        ["inventory"] =
        [
            $"BEGIN; UPDATE inventory_item SET price = 89.99 WHERE id = '{Inv2}'; INSERT INTO inventory_item_price_history VALUES ('a1000000-0000-4000-8000-000000000002', '{Inv2}', 99.99, 89.99, '2024-08-01 00:00:00+00'); COMMIT",
        ],
        ["wallet"] =
        [
            $"BEGIN; UPDATE balance_transaction SET balance = 75.5000, updated_at = '2024-08-01 00:00:00+00' WHERE id = 1; INSERT INTO create_transaction (id, user_id, amount, is_debit, item_id, description, created_on, transaction_type) VALUES (10, '{F1}', 25.0000, true, 'CLASS-surf', 'Class', '2024-08-01 00:00:00+00', 'PURCHASE'); COMMIT",
            // Lossy: 0.0050 is half a cent. The whole source transaction is parked (wallet is financial).
            $"BEGIN; INSERT INTO create_transaction (id, user_id, amount, is_debit, item_id, description, created_on, transaction_type) VALUES (11, '{F1}', 0.0050, true, NULL, 'half a cent', '2024-08-01 00:00:01+00', 'DEBIT'); INSERT INTO create_transaction_related_transactions VALUES (11, 10, 'SPLIT_FROM'); COMMIT",
            "UPDATE balance_transaction SET balance = 10.0000 WHERE id = 2",
        ],
        ["transaction"] =
        [
            // created_by_id NULL cannot go into the target's NOT NULL column: parked, never defaulted.
            $"INSERT INTO transactions VALUES ('b0000000-0000-4000-8000-000000000003', '{F2}', '{Inv2}', NULL, 89.99, 1, 'EUR', 'PENDING', NULL, '2024-08-01 00:00:00+00')",
            "UPDATE transactions SET status = 'REFUNDED' WHERE id = 'b0000000-0000-4000-8000-000000000001'",
        ],
        ["stripe"] = ["UPDATE exchange_rates SET price = 8.99 WHERE id = 'c2000000-0000-4000-8000-000000000001'"],
        ["subscriptions"] = ["UPDATE subscriptions SET name = 'Named later' WHERE id = 'c3000000-0000-4000-8000-000000000002'"],
        ["broadcast"] = [$"UPDATE broadcasts SET name = 'Duplicate (broadcast side, edited)' WHERE id = '{E2}'"],
        ["stream"] = [$"DELETE FROM streams WHERE id = '{E3}'"],
        ["onsite-event"] =
        [
            $"INSERT INTO user_event_checkins VALUES ('e1000000-0000-4000-8000-000000000002', '{F2}', '{Oe1}', '2024-07-01 20:00:00+00')",
            $"UPDATE on_site_events SET name = 'Beach day ☀️' WHERE id = '{Oe1}'",
        ],
        ["class-catalog"] =
        [
            "DELETE FROM class_badges",
            $"INSERT INTO class_thumbnails VALUES ('{Cl1}', 'https://cdn.example/surf2.png')",
            $"UPDATE sessions SET original_price = 45.00 WHERE id = '{Ss1}'",
        ],
        ["notification-service"] = ["UPDATE notifications SET status = 'READ', read_on = '2024-01-02 01:00:00+00' WHERE id = 'c7000000-0000-4000-8000-000000000001'"],
        ["message-board"] = ["UPDATE members SET removed_on = '2024-08-01 00:00:00+00' WHERE id = 'c9000000-0000-4000-8000-000000000001'"],
        ["sse"] =
        [
            "DELETE FROM members WHERE id = 'cc000000-0000-4000-8000-000000000001'",
            $"INSERT INTO members VALUES ('cc000000-0000-4000-8000-000000000002', 'cb000000-0000-4000-8000-000000000001', '{F2}', '2024-08-01 00:00:00', '{{\"via\": \"app\"}}')",
        ],
        ["tags"] = [$"UPDATE tags SET type = 'SKILL', last_modified_on = '2024-08-01 00:00:00+00' WHERE id = '{T3}'"],
        ["encryption"] = ["UPDATE vault_secrets SET value = 'SECRET-1b', updated_on = '2024-08-01 00:00:00+00' WHERE secret_id = 'sec-1'"],
        ["dwolla"] = ["INSERT INTO vault_secrets VALUES ('sec-d2', 'dwolla-1', 'second', NULL, '2024-08-01 00:00:00+00', NULL)"],
    };
}
