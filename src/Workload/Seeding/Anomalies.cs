using System.Collections.Concurrent;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>
/// A kind of mess the seed warns about, planted on purpose. <see cref="Name"/> is
/// <c>&lt;kind&gt;:&lt;database&gt;.&lt;table&gt;.&lt;column&gt;</c>; <see cref="Where"/> says how to find the rows.
/// </summary>
public sealed record Anomaly(string Kind, string Database, string Table, string Column, string Where, string Description)
{
    public string Name => $"{Kind}:{Database}.{Table}.{Column}";
}

/// <summary>
/// Counts the anomalies as the generators plant them: a count is the number of rows (or values) that
/// match <see cref="Anomaly.Where"/> in the freshly loaded data, exactly.
/// </summary>
public sealed class AnomalyCounter
{
    private readonly ConcurrentDictionary<string, long> _counts = new();

    public void Add(Anomaly anomaly, long n = 1)
    {
        if (n != 0)
        {
            _counts.AddOrUpdate(anomaly.Name, n, (_, v) => v + n);
        }
    }

    public long this[Anomaly anomaly] => _counts.GetValueOrDefault(anomaly.Name);
}

/// <summary>Every anomaly seed-data plants (docs/data.md explains each and why it is there).</summary>
public static class Anomalies
{
    // ------------------------------------------------------------ orphaned references (no cross-database FKs)
    public static readonly Anomaly FollowOfUnknownCelebrity = new("orphan", "fan", "fan_follows", "celeb_user_id",
        "celeb_user_id not in celebrity.celebrity_profiles.celebrity_user_id", "follows of a celebrity whose profile is gone");

    public static readonly Anomaly FollowWithoutFanProfile = new("orphan", "fan", "fan_follows", "fan_user_id",
        "fan_user_id not in fan.fan_profiles.fan_user_id", "follows by a Keycloak user whose fan profile was never created");

    public static readonly Anomaly PurchaseOfUnknownItem = new("orphan", "transaction", "transactions", "item_id",
        "item_id not in inventory.inventory_item.id", "purchases of an item deleted from inventory-db");

    public static readonly Anomaly WalletTxOfUnknownItem = new("orphan", "wallet", "create_transaction", "item_id",
        "item_id not in inventory.inventory_item.item_id", "wallet purchases naming an unknown item_id");

    public static readonly Anomaly WalletTxWithoutWallet = new("orphan", "wallet", "create_transaction", "user_id",
        "user_id not in wallet.balance_transaction.user_id", "wallet transactions of a user who has no balance row");

    public static readonly Anomaly ShoutoutOfUnknownItem = new("orphan", "shoutout", "mux_stream", "inventory_item_id",
        "inventory_item_id not in inventory.inventory_item.item_id", "shoutout streams selling an unknown item_id");

    public static readonly Anomaly BroadcastOfUnknownItem = new("orphan", "broadcast", "broadcasts", "associated_item_ids",
        "an element of associated_item_ids not in inventory.inventory_item.id", "broadcasts listing at least one unknown item");

    public static readonly Anomaly ItemWithUnknownTag = new("orphan", "inventory", "inventory_item", "associated_tags",
        "an element of associated_tags not in tags.tags.id", "items tagged with at least one deleted tag");

    public static readonly Anomaly ItemOfUnknownCreator = new("orphan", "inventory", "inventory_item", "created_by_id",
        "created_by_id not in celebrity.celebrity_profiles.celebrity_user_id", "items created by a celebrity whose profile is gone");

    public static readonly Anomaly CelebrityWithUnknownTag = new("orphan", "celebrity", "celebrity_profile_tags", "tags",
        "an element of tags not in tags.tags.id", "celebrities tagged with at least one deleted tag");

    public static readonly Anomaly ClassOfUnknownGroup = new("orphan", "class-catalog", "classes", "group_id",
        "group_id not in group-profile.group_profiles.profile_id", "classes of a group that does not exist");

    public static readonly Anomaly InstructorUnknown = new("orphan", "class-catalog", "session_instructors", "instructor_id",
        "instructor_id not in celebrity.celebrity_profiles.celebrity_user_id", "instructors without a celebrity profile");

    public static readonly Anomaly LivestreamOfUnknownGroup = new("orphan", "mux-livestream", "mux_livestreams", "group_id",
        "group_id not in group-profile.group_profiles.profile_id", "livestreams of a group that does not exist");

    public static readonly Anomaly GroupCelebUnknown = new("orphan", "group-profile", "group_profile_celebs", "celeb_user_id",
        "celeb_user_id not in celebrity.celebrity_profiles.celebrity_user_id", "the group service's copies of celebrities deleted since");

    public static readonly Anomaly NotificationOfUnknownTemplate = new("orphan", "notification-service", "notifications", "template_key",
        "template_key not in notification-service.notification_templates.template_key", "notifications rendered from a template since re-keyed or deleted");

    public static readonly Anomaly StatusHistoryOfDeletedProfile = new("orphan", "celebrity", "celebrity_profile_status_history", "celebrity_user_id",
        "celebrity_user_id not in celebrity.celebrity_profiles.celebrity_user_id", "status history that outlived its profile (the audit log has no FK)");

    public static readonly Anomaly SecretOfUnknownNamespace = new("orphan", "encryption", "vault_secrets", "namespace_id",
        "namespace_id not in encryption.vault_namespaces.namespace_id", "secrets of a namespace that no longer exists");

    // ------------------------------------------------------------ the same thing in two places
    public static readonly Anomaly FanAndCelebrity = new("same_identity", "celebrity", "celebrity_profiles", "celebrity_user_id",
        "celebrity_user_id in fan.fan_profiles.fan_user_id", "people who are both a celebrity and a fan (one Keycloak id)");

    public static readonly Anomaly ContentAlsoInMedia = new("duplicate_across", "content", "files", "content_id",
        "content_id in media.files.content_id", "content-db files whose content_id media-db holds too");

    public static readonly Anomaly StreamAlsoBroadcast = new("duplicate_across", "stream", "streams", "id",
        "id in broadcast.broadcasts.id", "streams duplicated from broadcast-db with the same id");

    public static readonly Anomaly NamespaceInBothVaults = new("duplicate_across", "dwolla", "vault_namespaces", "namespace_id",
        "namespace_id in encryption.vault_namespaces.namespace_id", "Dwolla vault namespaces whose id the general vault uses too (a key collision in peeq_encryption)");

    public static readonly Anomaly SecretInBothVaults = new("duplicate_across", "dwolla", "vault_secrets", "secret_id",
        "secret_id in encryption.vault_secrets.secret_id", "Dwolla vault secrets whose id the general vault uses too");

    public static readonly Anomaly ContentIdReused = new("duplicate_within", "content", "files", "content_id",
        "content_id values held by more than one row", "one content_id under two storage keys (never enforced unique)");

    public static readonly Anomaly KeylessDuplicateRows = new("duplicate_within", "fan", "fan_follow_changes", "*",
        "count(*) - count(DISTINCT row)", "exact duplicate rows in the keyless audit log (a client retried)");

    public static readonly Anomaly MemberRejoined = new("duplicate_within", "message-board", "members", "message_board_id,user_id",
        "(message_board_id, user_id) pairs with more than one row", "members who left a board and joined again (a new row)");

    // ------------------------------------------------------------ NULLs (the first six: the target column is NOT NULL)
    public static readonly Anomaly NullPlanName = Null("subscriptions", "subscriptions", "name", "plans without a name (target subscription_plans.name is NOT NULL: parked)");
    public static readonly Anomaly NullPlanCreator = Null("subscriptions", "subscriptions", "created_by_id", "plans without a creator (target NOT NULL: parked)");
    public static readonly Anomaly NullSeriesName = Null("subscriptions", "series", "name", "series without a name (target content_series.name is NOT NULL: parked)");
    public static readonly Anomaly NullTagType = Null("tags", "tags", "type", "tags without a type (target tag_type is NOT NULL: parked)");
    public static readonly Anomaly NullClassDescription = Null("class-catalog", "classes", "description", "classes without a description (target NOT NULL: parked)");
    public static readonly Anomaly NullDetailDescription = Null("class-catalog", "class_details", "description", "lessons without a description (target NOT NULL: parked)");
    public static readonly Anomaly NullDisplayName = Null("celebrity", "celebrity_profiles", "display_name", "celebrities without a display name");
    public static readonly Anomaly NullFanMetaData = Null("fan", "fan_profiles", "meta_data", "fans without profile JSON");
    public static readonly Anomaly NullPurchaseItem = Null("transaction", "transactions", "item_id", "purchases with no item (gift cards, manual adjustments)");
    public static readonly Anomaly NullMimeType = Null("media", "files", "mime_type", "media files whose type was never detected");

    // ------------------------------------------------------------ large jsonb stored out of line
    public static readonly Anomaly ToastMediaMux = Toast("media", "files", "mux_info");
    public static readonly Anomaly ToastCelebrityMeta = Toast("celebrity", "celebrity_profiles", "meta_data");
    public static readonly Anomaly ToastShoutoutMux = Toast("shoutout", "mux_stream", "mux_info");
    public static readonly Anomaly ToastBroadcastMeta = Toast("broadcast", "broadcasts", "meta_data");
    public static readonly Anomaly ToastStreamMux = Toast("stream", "streams", "mux_info");

    // ------------------------------------------------------------ unicode
    public static readonly Anomaly UnicodeCelebrity = Unicode("celebrity", "celebrity_profiles", "display_name");
    public static readonly Anomaly UnicodeGroup = Unicode("group-profile", "group_profiles", "name");
    public static readonly Anomaly UnicodeTag = Unicode("tags", "tags", "name");
    public static readonly Anomaly UnicodeShoutout = Unicode("shoutout", "mux_stream", "name");
    public static readonly Anomaly UnicodeMessage = Unicode("message-board", "messages", "message_content");

    // ------------------------------------------------------------ extreme numbers (the targets hold INT cents)
    public static readonly Anomaly ItemPriceBeyondInt = new("beyond_int_cents", "inventory", "inventory_item", "price",
        "price > 21474836.47", "prices up to the numeric(12,2) limit 9999999999.99: more cents than INT holds (parked by design)");

    public static readonly Anomaly PurchasePriceBeyondInt = new("beyond_int_cents", "transaction", "transactions", "price",
        "price > 21474836.47", "purchases at such prices");

    public static readonly Anomaly BalanceBeyondInt = new("beyond_int_cents", "wallet", "balance_transaction", "balance",
        "balance > 21474836.47", "treasury wallets holding more than INT cents");

    public static readonly Anomaly SubCentAmount = new("sub_cent", "wallet", "create_transaction", "amount",
        "amount <> trunc(amount, 2)", "wallet amounts with sub-cent digits (currency conversion at 4 decimals; parked by design)");

    public static readonly Anomaly SubCentBalance = new("sub_cent", "wallet", "balance_transaction", "balance",
        "balance <> trunc(balance, 2)", "balances with sub-cent digits");

    public static readonly Anomaly BalanceMismatch = new("balance_mismatch", "wallet", "balance_transaction", "balance",
        "balance <> sum(credits) - sum(debits) of the user's create_transaction rows", "wallets whose balance does not match their transactions");

    // ------------------------------------------------------------ lifecycles the mappings must follow
    public static readonly Anomaly Unfollowed = new("lifecycle", "fan", "fan_follows", "unfollowed_on",
        "unfollowed_on IS NOT NULL", "unfollowed follows, kept as rows");

    public static readonly Anomaly DeletedGroup = new("lifecycle", "group-profile", "group_profiles", "is_deleted",
        "is_deleted", "soft-deleted groups");

    public static readonly Anomaly DeletedRate = new("lifecycle", "stripe", "exchange_rates", "deleted_on",
        "deleted_on IS NOT NULL", "soft-deleted exchange rates");

    public static readonly Anomaly DeletedFile = new("lifecycle", "media", "files", "state",
        "state = 'DELETED'", "media files marked deleted but still present");

    public static readonly Anomaly RemovedMember = new("lifecycle", "message-board", "members", "removed_on",
        "removed_on IS NOT NULL", "board members who left");

    public static readonly Anomaly NotificationStatusOutside = new("outside_vocabulary", "notification-service", "notifications", "status",
        "status NOT IN ('PENDING', 'SENT', 'FAILED', 'READ')", "statuses of an older service version the target CHECK rejects (parked)");

    public static readonly IReadOnlyList<Anomaly> All = typeof(Anomalies).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f.FieldType == typeof(Anomaly))
        .Select(f => (Anomaly)f.GetValue(null)!)
        .ToList();

    private static Anomaly Null(string db, string table, string column, string description) =>
        new("null", db, table, column, $"{column} IS NULL", description);

    private static Anomaly Toast(string db, string table, string column) =>
        new("toasted_jsonb", db, table, column, $"pg_column_size({column}) > 8192",
            "jsonb over 8 KB of incompressible text, stored out of line (an update that leaves it unchanged must not blank it)");

    private static Anomaly Unicode(string db, string table, string column) =>
        new("unicode", db, table, column, $"{column} has a non-ASCII character",
            "accents, CJK, Hangul, Cyrillic, Arabic and Hebrew (right to left), combining marks, emoji");
}
