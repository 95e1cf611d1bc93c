using YamlDotNet.Serialization;

namespace Peeq.Cdc.Configuration;

/// <summary>
/// The whole pipeline's configuration: one YAML file (docs/configuration.md). Every stage reads the
/// same file and uses the part it needs.
/// </summary>
public sealed class PipelineOptions
{
    public KafkaOptions Kafka { get; set; } = new();

    public List<SourceOptions> Sources { get; set; } = [];

    public List<TargetOptions> Targets { get; set; } = [];

    public CaptureOptions Capture { get; set; } = new();

    public TransformOptions Transform { get; set; } = new();

    public SinkOptions Sink { get; set; } = new();

    public HttpOptions Http { get; set; } = new();

    public ReconcileOptions Reconcile { get; set; } = new();
    public DashboardOptions Dashboard { get; set; } = new();

    public NotificationsOptions Notifications { get; set; } = new();

    /// <summary>The environment variable that holds the sealing key of sensitive columns (base64, 32 bytes).</summary>
    public const string SealKeyVariable = "PEEQ_CDC_SEAL_KEY";

    /// <summary>
    /// The sealing key of sensitive columns (base64, 32 bytes). Unset: the <c>PEEQ_CDC_SEAL_KEY</c> environment
    /// variable, as deployments set it. Write it only as a <c>${ENV}</c> reference in a file; code that builds the
    /// options (tests, embedders) sets it here so that two pipelines in one process need not share one variable.
    /// </summary>
    public string? SealKey { get; set; }

    /// <summary>The sealing key in force (this option, else the environment variable), or null: sensitive values are left out.</summary>
    public byte[]? ResolveSealKey() =>
        (SealKey is { Length: > 0 } ? SealKey : Environment.GetEnvironmentVariable(SealKeyVariable)) is { Length: > 0 } text
            ? Peeq.Cdc.Contracts.SealedValue.ParseKey(text)
            : null;

    public SourceOptions Source(string name) => Sources.FirstOrDefault(s => s.Name == name)
        ?? throw new InvalidOperationException($"no source named '{name}' is configured");

    public TargetOptions Target(string name) => Targets.FirstOrDefault(t => t.Name == name)
        ?? throw new InvalidOperationException($"no target named '{name}' is configured");
}

public sealed class KafkaOptions
{
    /// <summary>Broker list, or <c>embedded</c> to start librdkafka's in-memory mock cluster in-process (development and tests only).</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>Prefix of every topic and consumer group name.</summary>
    public string TopicPrefix { get; set; } = "peeq-cdc";

    /// <summary>Partitions of each unified topic; 0 = one per source of that target.</summary>
    public int UnifiedPartitions { get; set; }

    /// <summary>Extra librdkafka properties for every client (security.protocol, sasl.*, ssl.*). Values may use ${ENV}.</summary>
    public Dictionary<string, string> Properties { get; set; } = [];

    [YamlIgnore]
    public bool IsEmbedded => string.Equals(BootstrapServers, "embedded", StringComparison.OrdinalIgnoreCase);
}

public sealed class SourceOptions
{
    /// <summary>Short name, unique; names the slot, publication and raw topic (letters, digits, '-' and '_').</summary>
    public string Name { get; set; } = "";

    /// <summary>Npgsql connection string of the legacy database. Secrets may come from ${ENV} references.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>The target (by name) this source's tables are consolidated into.</summary>
    public string Target { get; set; } = "";

    /// <summary>Tables to capture: <c>table</c> or <c>schema.table</c> (quote names with dots: <c>"a.b"</c>).</summary>
    public List<string> Tables { get; set; } = [];

    /// <summary>Columns never written to Kafka or logs in plaintext: <c>table.column</c> or <c>schema.table.column</c>.</summary>
    public List<string> SensitiveColumns { get; set; } = [];

    /// <summary>Tables whose rows move money: a row that must be parked parks its whole source transaction.</summary>
    public List<string> FinancialTables { get; set; } = [];

    /// <summary>Replication slot name; default <c>peeq_cdc_&lt;name&gt;</c>.</summary>
    public string? Slot { get; set; }

    /// <summary>Publication name; default <c>peeq_cdc_&lt;name&gt;</c>.</summary>
    public string? Publication { get; set; }

    /// <summary>Create the slot and publication when missing (false: a DBA pre-created them for a least-privilege role).</summary>
    public bool CreateReplicationObjects { get; set; } = true;

    /// <summary>
    /// Identity mapping only: the target schema this source's tables land in (null = the source table's own
    /// schema). Lets two sources with same-named tables share one target database without colliding.
    /// </summary>
    public string? TargetSchema { get; set; }

    /// <summary>The target table the identity mapping gives a source table: same name, in <see cref="TargetSchema"/> when set.</summary>
    public Contracts.TableId IdentityTarget(Contracts.TableId sourceTable) =>
        string.IsNullOrEmpty(TargetSchema) ? sourceTable : new Contracts.TableId(TargetSchema, sourceTable.Name);
    /// Where this source's changes come from: <c>capture</c> (Peeq.Cdc's own Capture, the default) or
    /// <c>debezium</c> (the external Debezium PostgreSQL connector's per-table topics; Capture skips the source).
    /// </summary>
    public string Input { get; set; } = "capture";

    /// <summary>Debezium's <c>topic.prefix</c>: its topics are <c>&lt;prefix&gt;.&lt;schema&gt;.&lt;table&gt;</c>; default the source name.</summary>
    public string? DebeziumTopicPrefix { get; set; }

    /// <summary>Debezium's transaction metadata is enabled (<c>provide.transaction.metadata</c>): read <c>&lt;prefix&gt;.transaction</c> and apply source transactions whole.</summary>
    public bool DebeziumTransactions { get; set; }

    [YamlIgnore]
    public bool IsDebezium => string.Equals(Input, "debezium", StringComparison.OrdinalIgnoreCase);

    [YamlIgnore]
    public string DebeziumPrefix => DebeziumTopicPrefix ?? Name;

    [YamlIgnore]
    public string SlotName => Slot ?? DefaultObjectName();

    [YamlIgnore]
    public string PublicationName => Publication ?? DefaultObjectName();

    private string DefaultObjectName() => "peeq_cdc_" + new string(Name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_').ToArray());
}

public sealed class TargetOptions
{
    /// <summary>Short name, unique; names the unified topic.</summary>
    public string Name { get; set; } = "";

    /// <summary>Npgsql connection string of the consolidated database. Secrets may come from ${ENV} references.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Mapping file (relative to the config file), or <c>identity</c>: every source table to the same-named target table.</summary>
    public string Mapping { get; set; } = "identity";

    /// <summary>Create a missing target table from the source table's definition (identity mapping only).</summary>
    public bool CreateTables { get; set; } = true;

    /// <summary>
    /// Which consolidated database of schemas/target this target is (peeq_users, ...): selects its references in
    /// references.yaml. Default: the database named in <see cref="ConnectionString"/>.
    /// </summary>
    public string? Database { get; set; }

    [YamlIgnore]
    public bool IsIdentity => string.Equals(Mapping, "identity", StringComparison.OrdinalIgnoreCase);
}

public sealed class CaptureOptions
{
    /// <summary>
    /// Raw-event bytes a source may have produced beyond what the Sink has applied or received before
    /// Capture pauses reading. Unified events run about twice the size of raw ones, so the default keeps
    /// a source's unconsumed data well inside the embedded broker's ~5 MiB per partition.
    /// </summary>
    public long InFlightBytes { get; set; } = 3 * 512 * 1024;

    /// <summary>How often Capture reads the applied position back from the target and confirms the slot.</summary>
    public TimeSpan AckInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How often a quiet source gets a heartbeat so its slot keeps advancing.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Standby status interval on the replication connection (must stay well below wal_sender_timeout).</summary>
    public TimeSpan StatusInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Delay before an unreachable source is retried (doubles up to <see cref="MaxRetryDelay"/>).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Rows per snapshot chunk.</summary>
    public int SnapshotChunkRows { get; set; } = 5000;
}

public sealed class TransformOptions
{
    /// <summary>Consumer group name; default <c>&lt;prefix&gt;-transform</c>.</summary>
    public string? Group { get; set; }
}

public sealed class SinkOptions
{
    /// <summary>Consumer group name; default <c>&lt;prefix&gt;-sink</c>.</summary>
    public string? Group { get; set; }

    /// <summary>Rows buffered per source before they are written into the open target transaction.</summary>
    public int MaxBatchRows { get; set; } = 10000;

    /// <summary>
    /// Encoded bytes (the unified events as received) of the transaction being received, with the whole ones waiting,
    /// before it is written into the open target transaction in pieces; also the most that waits in the source's queue.
    /// With <see cref="MaxBatchRows"/>, what bounds the Sink's working set whatever the size of a source transaction.
    /// </summary>
    public long MaxBatchBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>How long whole transactions may wait to share a target transaction when traffic is light.</summary>
    public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>How often the Sink tells Capture how far it has received (flow control for the in-flight window).</summary>
    public TimeSpan FlowInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Delay before a failed target write is retried (doubles up to <see cref="MaxRetryDelay"/>).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a delete's tombstone is kept at least (see docs/sink.md for the whole clean-up rule).</summary>
    public TimeSpan TombstoneRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often each target's upkeep runs: tombstone clean-up, pending lookups, parked/held/dangling gauges.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class HttpOptions
{
    /// <summary>Where /metrics, /healthz and the dashboard listen; empty to disable.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:9464";
}
