using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Operations.Connectors;

/// <summary>
/// Debezium PostgreSQL connector configs, one per source, generated from the same pipeline config Capture
/// reads (<c>peeq-cdc connectors generate</c>; connectors/README.md). The connector reads the same tables,
/// through a slot and publication of its own (<c>debezium_&lt;source&gt;</c>, never Capture's), with the settings
/// Transform's Debezium input needs: exact decimals as strings, transaction metadata, the TOAST placeholder,
/// truncates. Secrets stay Kafka Connect config-provider references (<c>${env:NAME}</c>), never plaintext;
/// sensitive columns are dropped, because Debezium cannot seal them.
/// </summary>
public static partial class DebeziumConnectors
{
    /// <summary>Debezium's default placeholder for an unchanged TOASTed value; Transform treats it as "unchanged".</summary>
    public const string ToastPlaceholder = "__debezium_unavailable_value";

    /// <summary>
    /// Loads a pipeline config for generation: every <c>${NAME}</c> becomes the Kafka Connect reference
    /// <c>${env:NAME}</c> instead of being read from this machine's environment, so no secret is ever read here.
    /// </summary>
    public static PipelineConfig LoadConfig(string path)
    {
        var file = ConfigFile.Load(path, name => "${env:" + name + "}");
        var options = file.Bind();
        var errors = file.Errors.Concat(new PipelineOptionsValidator(file).Check(options)).ToList();
        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return new PipelineConfig(options, file);
    }

    public sealed record Generated(string Source, string FileName, string Json, IReadOnlyList<string> Notes);

    public static IReadOnlyList<Generated> Generate(PipelineOptions o) => o.Sources.Select(s => Generate(o, s)).ToList();

    public static Generated Generate(PipelineOptions o, SourceOptions s)
    {
        var notes = new List<string>();
        var cs = new NpgsqlConnectionStringBuilder(s.ConnectionString);
        var password = cs.Password;
        var passwordVariable = EnvName(s.Name) + "_DB_PASSWORD";
        if (password is not null && !EnvReference().IsMatch(password))
        {
            notes.Add($"source '{s.Name}': the config holds a literal password; the connector reads ${{env:{passwordVariable}}} instead (set it on the Connect workers)");
            password = "${env:" + passwordVariable + "}";
        }

        var tables = s.Tables.Select(t => TableId.Parse(t)).ToList();
        var sensitive = s.SensitiveColumns.Select(c => ColumnRef.TryParse(c, out var col, out _) ? col : throw new ConfigurationException($"source '{s.Name}': bad sensitive column '{c}'")).ToList();
        if (sensitive.Count > 0)
        {
            notes.Add($"source '{s.Name}': {sensitive.Count} sensitive column(s) are dropped by the connector (Debezium cannot seal them); feed this source's target with Capture");
        }

        var slot = "debezium_" + Regex.Replace(s.Name.ToLowerInvariant(), "[^a-z0-9_]", "_");
        var config = new JsonObject
        {
            ["connector.class"] = "io.debezium.connector.postgresql.PostgresConnector",
            ["tasks.max"] = "1",
            ["plugin.name"] = "pgoutput",
            ["database.hostname"] = cs.Host,
            ["database.port"] = cs.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["database.dbname"] = cs.Database,
            ["database.user"] = cs.Username,
            ["database.password"] = password ?? "${env:" + passwordVariable + "}",
            ["database.sslmode"] = cs.SslMode switch
            {
                SslMode.Disable => "disable",
                SslMode.Allow => "allow",
                SslMode.Require => "require",
                SslMode.VerifyCA => "verify-ca",
                SslMode.VerifyFull => "verify-full",
                _ => "prefer",
            },
            ["topic.prefix"] = TopicPrefix(o, s),
            ["slot.name"] = slot,
            ["publication.name"] = slot,
            ["publication.autocreate.mode"] = "filtered",
            ["table.include.list"] = string.Join(",", tables.Select(t => Regex.Escape(t.Schema) + "\\." + Regex.Escape(t.Name))),
            ["column.exclude.list"] = sensitive.Count == 0 ? null : string.Join(",", sensitive.Select(c => Regex.Escape(c.Table.Schema) + "\\." + Regex.Escape(c.Table.Name) + "\\." + Regex.Escape(c.Column))),
            ["snapshot.mode"] = "initial",
            ["decimal.handling.mode"] = "string",
            ["time.precision.mode"] = "adaptive",
            ["provide.transaction.metadata"] = "true",
            ["unavailable.value.placeholder"] = ToastPlaceholder,
            ["skipped.operations"] = "none",
            ["tombstones.on.delete"] = "false",
            ["heartbeat.interval.ms"] = ((long)o.Capture.HeartbeatInterval.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["heartbeat.action.query"] = "SELECT pg_logical_emit_message(false, 'debezium.heartbeat', '')",
            ["slot.drop.on.stop"] = "false",
            ["key.converter"] = "org.apache.kafka.connect.json.JsonConverter",
            ["key.converter.schemas.enable"] = "false",
            ["value.converter"] = "org.apache.kafka.connect.json.JsonConverter",
            ["value.converter.schemas.enable"] = "true",
        };
        foreach (var k in config.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList())
        {
            config.Remove(k);
        }

        var root = new JsonObject { ["name"] = ConnectorName(o, s), ["config"] = config };
        var json = root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
        return new Generated(s.Name, s.Name + ".json", json, notes);
    }

    /// <summary>Debezium names its topics <c>&lt;topic.prefix&gt;.&lt;schema&gt;.&lt;table&gt;</c>; transaction metadata goes to <c>&lt;topic.prefix&gt;.transaction</c>.</summary>
    public static string TopicPrefix(PipelineOptions o, SourceOptions s) => $"{o.Kafka.TopicPrefix}.debezium.{s.Name}";

    public static string ConnectorName(PipelineOptions o, SourceOptions s) => $"{o.Kafka.TopicPrefix}-debezium-{s.Name}";

    /// <summary>Writes one file per source into <paramref name="directory"/> and removes generated files of sources no longer configured.</summary>
    public static IReadOnlyList<Generated> Write(PipelineOptions o, string directory)
    {
        Directory.CreateDirectory(directory);
        var generated = Generate(o);
        var names = generated.Select(g => g.FileName).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in Directory.EnumerateFiles(directory, "*.json").Where(f => !names.Contains(Path.GetFileName(f))))
        {
            File.Delete(stale);
        }

        foreach (var g in generated)
        {
            File.WriteAllText(Path.Combine(directory, g.FileName), g.Json, new UTF8Encoding(false));
        }

        return generated;
    }

    private static string EnvName(string source) => Regex.Replace(source.ToUpperInvariant(), "[^A-Z0-9]", "_");

    [GeneratedRegex(@"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")]
    private static partial Regex EnvReference();
}
