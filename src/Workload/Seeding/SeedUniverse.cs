namespace Peeq.Cdc.Workload.Seeding;

/// <summary>
/// The people and things that exist across the 22 databases at one scale and seed: how many of each,
/// their ids, and the attributes other databases refer to. Every value is a function of (seed, index),
/// so any database can name any entity without loading another database first. Volumes at scale 1
/// are the seed's (docs/data.md).
/// </summary>
public sealed class SeedUniverse
{
    /// <summary>The earliest legacy timestamp; data spans seven years from here.</summary>
    public static readonly DateTime Epoch = new(2019, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static readonly TimeSpan Span = TimeSpan.FromDays(7 * 365);

    /// <summary>Largest numeric(12,2) value; prices at this limit exist in the legacy data.</summary>
    public const decimal MaxNumeric12x2 = 9999999999.99m;

    /// <summary>Largest amount that fits the targets' INT cents.</summary>
    public const decimal MaxIntCents = 21474836.47m;

    private readonly Lazy<Guid[]> _fanIds;
    private readonly Lazy<Guid[]> _celebrityIds;
    private readonly Lazy<ItemInfo[]> _items;
    private readonly Lazy<Guid[]> _tagIds;
    private readonly Lazy<Guid[]> _groupIds;

    public SeedUniverse(long seed, double scale)
    {
        if (scale <= 0 || double.IsNaN(scale) || double.IsInfinity(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), "scale must be a positive number");
        }

        Seed = seed;
        Scale = scale;
        Fans = N(100_000, 200);
        Celebrities = N(5_000, 40);
        Groups = N(500, 12);
        Tags = N(2_000, 30);
        Items = N(100_000, 300);
        Subscriptions = N(5_000, 20);
        Series = N(2_000, 20);
        MediaFiles = N(500_000, 600);
        ContentFiles = Math.Min(N(100_000, 200), MediaFiles);
        Shoutouts = N(50_000, 100);
        Livestreams = N(10_000, 30);
        Wallets = Math.Min(N(100_000, 200), Fans);
        WalletEvents = N(500_000, 1_000);
        Purchases = N(2_000_000, 2_000);
        ExchangeRates = N(10_000, 30);
        Broadcasts = N(20_000, 60);
        Streams = Math.Min(N(20_000, 60), Broadcasts);
        OnsiteEvents = N(2_000, 20);
        Checkins = N(50_000, 100);
        Classes = N(3_000, 20);
        Sessions = N(10_000, 40);
        Boards = N(5_000, 20);
        BoardMembers = N(100_000, 200);
        Messages = N(250_000, 400);
        SseGroups = N(5_000, 20);
        SseMembers = N(50_000, 100);
        Templates = N(200, 12);
        Notifications = N(300_000, 500);
        Namespaces = N(1_000, 20);
        DwollaNamespaces = Math.Min(N(500, 20), Namespaces);
        Secrets = N(10_000, 100);
        DwollaSecrets = Math.Min(N(5_000, 60), Secrets);
        _fanIds = new(() => Enumerable.Range(0, Fans).Select(f => Prng.For(seed, K.Fan, f).Uuid()).ToArray());
        _celebrityIds = new(() => Enumerable.Range(0, Celebrities)
            .Select(c => IsFanToo(c) ? FanId(FanOf(c)) : Prng.For(seed, K.Celebrity, c).Uuid()).ToArray());
        _items = new(() => Enumerable.Range(0, Items).Select(i => ItemInfo.Create(this, i)).ToArray());
        _tagIds = new(() => Enumerable.Range(0, Tags).Select(t => Prng.For(seed, K.Tag, t).Uuid()).ToArray());
        _groupIds = new(() => Enumerable.Range(0, Groups).Select(g => Prng.For(seed, K.Group, g).Uuid()).ToArray());
    }

    public long Seed { get; }

    public double Scale { get; }

    public int Fans { get; }

    public int Celebrities { get; }

    public int Groups { get; }

    public int Tags { get; }

    public int Items { get; }

    public int Subscriptions { get; }

    public int Series { get; }

    public int MediaFiles { get; }

    public int ContentFiles { get; }

    public int Shoutouts { get; }

    public int Livestreams { get; }

    public int Wallets { get; }

    /// <summary>Wallet movements (credits, purchases, transfers, ...); some produce two rows.</summary>
    public int WalletEvents { get; }

    public int Purchases { get; }

    public int ExchangeRates { get; }

    public int Broadcasts { get; }

    public int Streams { get; }

    public int OnsiteEvents { get; }

    public int Checkins { get; }

    public int Classes { get; }

    public int Sessions { get; }

    public int Boards { get; }

    public int BoardMembers { get; }

    public int Messages { get; }

    public int SseGroups { get; }

    public int SseMembers { get; }

    public int Templates { get; }

    public int Notifications { get; }

    public int Namespaces { get; }

    public int DwollaNamespaces { get; }

    public int Secrets { get; }

    public int DwollaSecrets { get; }

    private int N(double atScaleOne, int floor) => Math.Max(floor, (int)Math.Round(atScaleOne * Scale));

    public Prng Rng(ulong kind, long index) => Prng.For(Seed, kind, index);

    // ---------------------------------------------------------------- people

    public Guid FanId(int f) => _fanIds.Value[f];

    /// <summary>One celebrity in 40 is also a fan (the same Keycloak id in fan-db and celebrity-db).</summary>
    public static bool IsFanToo(int celebrity) => celebrity % 40 == 3;

    /// <summary>The fan a dual-identity celebrity also is (distinct for distinct celebrities, because Celebrities &lt; Fans).</summary>
    public int FanOf(int celebrity) => (int)((long)celebrity * 7919 % Fans);

    public Guid CelebrityId(int c) => _celebrityIds.Value[c];

    /// <summary>A Keycloak user with neither a fan nor a celebrity profile (deleted account, profile not created yet).</summary>
    public Guid GhostUserId(long g) => Prng.For(Seed, K.Ghost, g).Uuid();

    /// <summary>A celebrity that no longer exists in celebrity-db: what orphaned references point at.</summary>
    public Guid DeletedCelebrityId(long k) => Prng.For(Seed, K.DeletedCelebrity, k).Uuid();

    /// <summary>Any platform user: mostly fans, some celebrities, a few without a profile.</summary>
    public Guid AnyUser(ref Prng r)
    {
        var p = r.Int(100);
        return p < 85 ? FanId(r.Int(Fans)) : p < 97 ? CelebrityId(r.Int(Celebrities)) : GhostUserId(r.Int(1_000_000));
    }

    public Guid RandomCelebrity(ref Prng r) => CelebrityId(r.Int(Celebrities));

    /// <summary>The user owning wallet <paramref name="w"/> (wallets belong to fans; user_id is UNIQUE).</summary>
    public Guid WalletUser(int w) => FanId(w);

    // ---------------------------------------------------------------- things

    public Guid TagId(int t) => _tagIds.Value[t];

    public Guid GroupId(int g) => _groupIds.Value[g];

    /// <summary>A tag that tags-db no longer has (what stale tag references point at).</summary>
    public Guid DeletedTagId(long k) => Prng.For(Seed, K.DeletedTag, k).Uuid();

    /// <summary>A group that group-profile-db does not have.</summary>
    public Guid UnknownGroupId(long k) => Prng.For(Seed, K.UnknownGroup, k).Uuid();

    /// <summary>The name of tag <paramref name="t"/> (one in ten is not ASCII).</summary>
    public string TagName(int t)
    {
        var r = Rng(K.TagName, t);
        return r.Chance(0.1)
            ? $"{r.Pick(UnicodeTagNames)} {Words.Base36(t)}"
            : $"{r.Pick(Words.Sports)}-{r.Pick(Words.Nouns)}-{Words.Base36(t)}";
    }

    public static readonly string[] UnicodeTagNames = ["Fútbol", "野球", "축구", "Éclair", "Ski-Skjøring", "Плавание", "كرة السلة", "טניס", "Köln", "🏈 Gridiron"];

    public Guid SubscriptionId(int s) => Prng.For(Seed, K.Subscription, s).Uuid();

    public Guid SeriesId(int s) => Prng.For(Seed, K.Series, s).Uuid();

    public ItemInfo Item(int i) => _items.Value[i];

    /// <summary>An item of <paramref name="type"/> (rejection sampling over the catalogue).</summary>
    public ItemInfo ItemOfType(ref Prng r, string type)
    {
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var item = Item(r.Int(Items));
            if (item.Type == type)
            {
                return item;
            }
        }

        return Item(r.Int(Items));
    }

    public Guid MediaFileId(int m) => Prng.For(Seed, K.MediaFile, m).Uuid();

    public Guid BroadcastId(int b) => Prng.For(Seed, K.Broadcast, b).Uuid();

    public string TemplateKey(int t) => $"{TemplateKinds[t % TemplateKinds.Length]}.v{(t / TemplateKinds.Length) + 1}";

    public static readonly string[] TemplateKinds =
    [
        "welcome", "purchase.receipt", "follow.new", "broadcast.starting", "class.reminder", "wallet.credited", "wallet.low-balance",
        "shoutout.ready", "event.checkin", "password.reset", "subscription.renewal", "message.mention",
    ];

    public string NamespaceId(int n) => $"general/{Words.Base36(n)}-{Prng.For(Seed, K.Namespace, n).Hex(4)}";

    public string SecretId(int s) => Prng.For(Seed, K.Secret, s).Uuid().ToString();

    /// <summary>A timestamp at fraction <paramref name="at"/> of the seven years, with microsecond jitter.</summary>
    public static DateTime Time(double at, ref Prng r)
    {
        var micros = (long)(Math.Clamp(at, 0, 1) * (Span.Ticks / 10)) + r.Long(3_600_000_000L);
        return Epoch.AddTicks(Math.Min(micros, Span.Ticks / 10) * 10);
    }

    /// <summary>A timestamp uniformly between <paramref name="from"/> and the end of the span.</summary>
    public static DateTime After(DateTime from, ref Prng r, double maxFraction = 1)
    {
        var end = Epoch + Span;
        var room = Math.Max(0, (end - from).Ticks / 10);
        return from.AddTicks((long)(r.Double() * maxFraction * room) * 10 + 10);
    }

    /// <summary>Kind tags of the per-entity streams.</summary>
    public static class K
    {
        public static readonly ulong Fan = Prng.Kind("fan");
        public static readonly ulong Celebrity = Prng.Kind("celebrity");
        public static readonly ulong Ghost = Prng.Kind("ghost-user");
        public static readonly ulong DeletedCelebrity = Prng.Kind("deleted-celebrity");
        public static readonly ulong Tag = Prng.Kind("tag");
        public static readonly ulong TagName = Prng.Kind("tag-name");
        public static readonly ulong DeletedTag = Prng.Kind("deleted-tag");
        public static readonly ulong UnknownGroup = Prng.Kind("unknown-group");
        public static readonly ulong Group = Prng.Kind("group");
        public static readonly ulong Subscription = Prng.Kind("subscription");
        public static readonly ulong Series = Prng.Kind("series");
        public static readonly ulong Item = Prng.Kind("item");
        public static readonly ulong MediaFile = Prng.Kind("media-file");
        public static readonly ulong Broadcast = Prng.Kind("broadcast");
        public static readonly ulong Namespace = Prng.Kind("vault-namespace");
        public static readonly ulong Secret = Prng.Kind("vault-secret");
    }
}

/// <summary>
/// An inventory item as every database sees it: ids, type, and the chains of prices, quantities and
/// states whose steps are its history rows (the last step is the current value).
/// </summary>
public sealed record ItemInfo(
    int Index,
    Guid Id,
    string ItemId,
    string Type,
    Guid CreatedBy,
    string Currency,
    DateTime CreatedOn,
    decimal[] Prices,
    DateTime[] PriceChangedOn,
    int[] Quantities,
    DateTime[] QuantityChangedOn,
    string[] States,
    DateTime[] StateChangedOn)
{
    public static readonly string[] Types = ["SHOUTOUT", "CLASS", "EVENT", "SUBSCRIPTION", "CONTENT", "PRODUCT"];

    /// <summary>Current price; null for items sold through plans only.</summary>
    public decimal? Price => Prices.Length == 0 ? null : Prices[^1];

    public int? Quantity => Quantities.Length == 0 ? null : Quantities[^1];

    public string State => States[^1];

    internal static ItemInfo Create(SeedUniverse u, int i)
    {
        var r = u.Rng(SeedUniverse.K.Item, i);
        var id = r.Uuid();
        var p = r.Int(100);
        var type = p < 30 ? "SHOUTOUT" : p < 40 ? "CLASS" : p < 50 ? "EVENT" : p < 60 ? "SUBSCRIPTION" : p < 95 ? "CONTENT" : "PRODUCT";
        var itemId = $"{type}-{Words.Base36(i)}-{Words.Slug(ref r)}";
        var creator = i % 97 == 13 ? u.DeletedCelebrityId(i) : u.RandomCelebrity(ref r);
        var currency = r.Int(20) switch { 0 => "EUR", 1 => "GBP", _ => "USD" };
        var created = SeedUniverse.Time((double)i / u.Items * 0.9, ref r);

        // Prices in cents, then 0-3 changes of -30%..+40%; a few items sit at the numeric(12,2) limit or
        // beyond what INT cents can hold (the targets park those), a few are free, a few have no price.
        decimal[] prices;
        if (i % 250 == 99)
        {
            prices = [];
        }
        else
        {
            var (lo, hi) = type switch
            {
                "SHOUTOUT" => (1_000, 50_000),
                "CLASS" => (2_000, 30_000),
                "EVENT" => (500, 20_000),
                "SUBSCRIPTION" => (300, 3_000),
                "CONTENT" => (100, 5_000),
                _ => (1_000, 100_000),
            };
            var changes = r.Int(100) switch { < 40 => 0, < 75 => 1, < 90 => 2, _ => 3 };
            prices = new decimal[changes + 1];
            long cents = r.Int(lo, hi);
            prices[0] = cents / 100m;
            for (var k = 1; k <= changes; k++)
            {
                cents = Math.Max(1, cents * r.Int(70, 140) / 100);
                if (cents == (long)(prices[k - 1] * 100))
                {
                    cents++;
                }

                prices[k] = cents / 100m;
            }

            if (i % 500 == 17)
            {
                prices[^1] = SeedUniverse.MaxNumeric12x2;
            }
            else if (i % 500 == 211)
            {
                prices[^1] = 25_000_000.00m;
            }
            else if (i % 500 == 42)
            {
                prices[^1] = 0.00m;
            }

            if (prices.Length > 1 && prices[^1] == prices[^2])
            {
                prices = prices[..^1];
            }
        }

        var priceTimes = Steps(ref r, created, prices.Length);

        // Stock: unlimited (no quantity) for content and subscriptions; otherwise a starting stock and
        // 0-3 changes (sales and restocks), never below zero.
        int[] quantities;
        if (type is "CONTENT" or "SUBSCRIPTION")
        {
            quantities = [];
        }
        else
        {
            var changes = r.Int(4);
            quantities = new int[changes + 1];
            quantities[0] = r.Int(10, 1000);
            for (var k = 1; k <= changes; k++)
            {
                var next = r.Chance(0.3) ? quantities[k - 1] + r.Int(10, 200) : Math.Max(0, quantities[k - 1] - r.Int(1, quantities[k - 1] + 1));
                quantities[k] = next == quantities[k - 1] ? next + 1 : next;
            }
        }

        var quantityTimes = Steps(ref r, created, quantities.Length);

        // States: created as DRAFT or ACTIVE; most end ACTIVE; sold out when the stock is gone.
        var s = r.Int(100);
        string[] states = s switch
        {
            < 5 => ["DRAFT"],
            < 20 => ["ACTIVE"],
            < 80 => ["DRAFT", "ACTIVE"],
            < 87 => ["DRAFT", "ACTIVE", "EXPIRED"],
            _ => ["DRAFT", "ACTIVE", "ARCHIVED"],
        };
        if (quantities.Length > 0 && quantities[^1] == 0 && states[^1] == "ACTIVE")
        {
            states = [.. states, "SOLD_OUT"];
        }

        var stateTimes = Steps(ref r, created, states.Length);
        return new ItemInfo(i, id, itemId, type, creator, currency, created, prices, priceTimes, quantities, quantityTimes, states, stateTimes);
    }

    private static DateTime[] Steps(ref Prng r, DateTime from, int count)
    {
        var times = new DateTime[count];
        var t = from;
        for (var k = 0; k < count; k++)
        {
            times[k] = t;
            t = SeedUniverse.After(t, ref r, 0.15);
        }

        return times;
    }
}
