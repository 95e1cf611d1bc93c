using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Npgsql;
using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Configuration;

/// <summary>
/// Checks a configuration for everything that can be known without connecting anywhere, and says
/// exactly what is wrong and where (file:line, key).
/// </summary>
public sealed partial class PipelineOptionsValidator(ConfigFile? file = null) : IValidateOptions<PipelineOptions>
{
    public ValidateOptionsResult Validate(string? name, PipelineOptions options)
    {
        var errors = Check(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public List<string> Check(PipelineOptions o)
    {
        var errors = new List<string>();
        void Error(string key, string message) =>
            errors.Add($"{(file is null ? "config" : file.Where(key))}: {ConfigFile.Display(key)}: {message}");

        if (string.IsNullOrWhiteSpace(o.Kafka.BootstrapServers))
        {
            Error("kafka:bootstrapServers", "required: a broker list (host:port,...) or 'embedded'");
        }

        if (!TopicName().IsMatch(o.Kafka.TopicPrefix))
        {
            Error("kafka:topicPrefix", $"'{o.Kafka.TopicPrefix}' cannot start a Kafka topic name (letters, digits, '.', '_', '-')");
        }

        if (o.Kafka.UnifiedPartitions < 0)
        {
            Error("kafka:unifiedPartitions", "must be 0 (one per source) or more");
        }

        // TLS and SASL: passed to librdkafka as they are; the values librdkafka would only reject at the first
        // connection attempt are checked here, so a typo fails at start with the key named.
        if (o.Kafka.Properties.TryGetValue("security.protocol", out var protocol)
            && protocol.ToLowerInvariant() is not ("plaintext" or "ssl" or "sasl_plaintext" or "sasl_ssl"))
        {
            Error("kafka:properties:security.protocol", $"'{protocol}' is not one of plaintext, ssl, sasl_plaintext, sasl_ssl");
        }

        foreach (var key in new[] { "sasl.mechanism", "sasl.mechanisms" })
        {
            if (o.Kafka.Properties.TryGetValue(key, out var mechanism)
                && mechanism.ToUpperInvariant() is not ("PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512" or "GSSAPI" or "OAUTHBEARER"))
            {
                Error($"kafka:properties:{key}", $"'{mechanism}' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, OAUTHBEARER");
            }
        }

        CheckKafkaSecurity(o.Kafka.Properties, Error);

        // The key itself is never part of the message.
        foreach (var (key, text) in new[] { ("sealKey", o.SealKey), ($"(environment variable {PipelineOptions.SealKeyVariable})", o.SealKey is { Length: > 0 } ? null : Environment.GetEnvironmentVariable(PipelineOptions.SealKeyVariable)) })
        {
            if (text is { Length: > 0 })
            {
                try
                {
                    SealedValue.ParseKey(text);
                }
                catch (FormatException e)
                {
                    Error(key, e.Message);
                }
            }
        }

        if (o.Targets.Count == 0)
        {
            Error("targets", "at least one target database is required");
        }

        if (o.Sources.Count == 0)
        {
            Error("sources", "at least one source database is required");
        }

        var targetNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < o.Targets.Count; i++)
        {
            var t = o.Targets[i];
            var k = $"targets:{i}";
            if (!ObjectName().IsMatch(t.Name))
            {
                Error($"{k}:name", $"'{t.Name}' is not a valid name (letters, digits, '-' and '_', starting with a letter)");
            }
            else if (!targetNames.Add(t.Name))
            {
                Error($"{k}:name", $"target '{t.Name}' is configured twice");
            }

            CheckConnectionString($"{k}:connectionString", t.ConnectionString, Error);
            if (!t.IsIdentity)
            {
                var mappingPath = file is null ? t.Mapping : Path.Combine(file.Directory, t.Mapping);
                if (!File.Exists(mappingPath))
                {
                    Error($"{k}:mapping", $"mapping file '{t.Mapping}' does not exist (looked at {Path.GetFullPath(mappingPath)}); use 'identity' to map every table to the same-named table");
                }
            }
        }

        var sourceNames = new HashSet<string>(StringComparer.Ordinal);
        var slots = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < o.Sources.Count; i++)
        {
            var s = o.Sources[i];
            var k = $"sources:{i}";
            if (!ObjectName().IsMatch(s.Name))
            {
                Error($"{k}:name", $"'{s.Name}' is not a valid name (letters, digits, '-' and '_', starting with a letter)");
            }
            else if (!sourceNames.Add(s.Name))
            {
                Error($"{k}:name", $"source '{s.Name}' is configured twice");
            }

            CheckConnectionString($"{k}:connectionString", s.ConnectionString, Error);
            if (string.IsNullOrEmpty(s.Target))
            {
                Error($"{k}:target", "required: the name of the target this source is consolidated into");
            }
            else if (!targetNames.Contains(s.Target))
            {
                var hint = ConfigFile.Closest(s.Target, targetNames);
                Error($"{k}:target", $"'{s.Target}' is not a configured target" + (hint is null ? "" : $" (did you mean '{hint}'?)")
                    + $"; targets: {string.Join(", ", targetNames)}");
            }

            if (!SlotName().IsMatch(s.SlotName))
            {
                Error($"{k}:slot", $"'{s.SlotName}' is not a valid replication slot name (lower-case letters, digits and '_', at most 63)");
            }
            else if (!slots.Add(s.SlotName))
            {
                Error($"{k}:slot", $"slot '{s.SlotName}' is used by two sources");
            }

            if (s.TargetSchema is { } schema)
            {
                if (schema.Length is 0 or > 63 || schema.Contains('\0'))
                {
                    Error($"{k}:targetSchema", "must be a schema name of 1 to 63 characters");
                }
                else if (schema == Postgres.PipelineSchema.Schema)
                {
                    Error($"{k}:targetSchema", $"'{schema}' is the pipeline's own schema in every target; choose another");
                }
            }

            if (s.Tables.Count == 0)
            {
                Error($"{k}:tables", "at least one table is required");
            }

            var tables = new HashSet<TableId>();
            for (var j = 0; j < s.Tables.Count; j++)
            {
                if (!TableId.TryParse(s.Tables[j], "public", out var id, out var error))
                {
                    Error($"{k}:tables:{j}", error);
                }
                else if (!tables.Add(id))
                {
                    Error($"{k}:tables:{j}", $"table {id} is listed twice");
                }
            }

            for (var j = 0; j < s.SensitiveColumns.Count; j++)
            {
                if (!ColumnRef.TryParse(s.SensitiveColumns[j], out var col, out var error))
                {
                    Error($"{k}:sensitiveColumns:{j}", error);
                }
                else if (!tables.Contains(col.Table))
                {
                    Error($"{k}:sensitiveColumns:{j}", $"table {col.Table} is not among this source's tables");
                }
            }

            if (!string.Equals(s.Input, "capture", StringComparison.OrdinalIgnoreCase) && !s.IsDebezium)
            {
                Error($"{k}:input", $"'{s.Input}' is not an input (capture or debezium)");
            }

            if (s.IsDebezium && s.SensitiveColumns.Count > 0)
            {
                Error($"{k}:input", "a source with sensitiveColumns cannot use Debezium input: Debezium writes every column to Kafka in plaintext and cannot seal them "
                    + "(the vault sources are Capture-only); use input: capture, or drop those columns in the connector and remove them here");
            }

            if (!s.IsDebezium && (s.DebeziumTopicPrefix is not null || s.DebeziumTransactions))
            {
                Error($"{k}:debeziumTopicPrefix", "debeziumTopicPrefix and debeziumTransactions apply only to input: debezium");
            }

            for (var j = 0; j < s.FinancialTables.Count; j++)
            {
                if (!TableId.TryParse(s.FinancialTables[j], "public", out var id, out var error))
                {
                    Error($"{k}:financialTables:{j}", error);
                }
                else if (!tables.Contains(id))
                {
                    Error($"{k}:financialTables:{j}", $"table {id} is not among this source's tables");
                }
            }
        }

        if (o.Capture.InFlightBytes < 64 * 1024)
        {
            Error("capture:inFlightBytes", "must be at least 65536");
        }

        if (o.Capture.StatusInterval <= TimeSpan.Zero || o.Capture.AckInterval <= TimeSpan.Zero || o.Capture.HeartbeatInterval <= TimeSpan.Zero)
        {
            Error("capture", "statusInterval, ackInterval and heartbeatInterval must be positive");
        }

        if (o.Capture.SnapshotChunkRows < 1)
        {
            Error("capture:snapshotChunkRows", "must be at least 1");
        }

        if (o.Sink.MaxBatchRows < 1)
        {
            Error("sink:maxBatchRows", "must be at least 1");
        }

        if (o.Sink.MaxBatchBytes < 64 * 1024)
        {
            Error("sink:maxBatchBytes", "must be at least 65536");
        }

        if (o.Sink.MaxBatchDelay < TimeSpan.Zero)
        {
            Error("sink:maxBatchDelay", "cannot be negative");
        }

        if (o.Sink.TombstoneRetention < TimeSpan.Zero)
        {
            Error("sink:tombstoneRetention", "cannot be negative");
        }

        if (o.Sink.MaintenanceInterval <= TimeSpan.Zero)
        {
            Error("sink:maintenanceInterval", "must be positive");
        }

        CheckReconcile(o, targetNames, Error);
        if (o.Dashboard.RefreshInterval < TimeSpan.FromMilliseconds(100) || o.Dashboard.StallAfter <= TimeSpan.Zero)
        {
            Error("dashboard", "refreshInterval must be at least 00:00:00.1 and stallAfter positive");
        }

        for (var i = 0; i < o.Dashboard.Metrics.Count; i++)
        {
            if (!Uri.TryCreate(o.Dashboard.Metrics[i], UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
            {
                Error($"dashboard:metrics:{i}", $"'{o.Dashboard.Metrics[i]}' is not an http(s) URL of a worker's /metrics");
            }
        }

        switch (o.Notifications.Transport.ToLowerInvariant())
        {
            case "inmemory" or "off":
                break;
            case "rabbitmq":
                if (!Uri.TryCreate(o.Notifications.RabbitMq.Host, UriKind.Absolute, out var r) || r.Scheme is not ("rabbitmq" or "rabbitmqs" or "amqp" or "amqps"))
                {
                    Error("notifications:rabbitMq:host", $"'{o.Notifications.RabbitMq.Host}' is not a RabbitMQ URI (rabbitmq://host[:port]/vhost or rabbitmqs://...)");
                }

                break;
            default:
                Error("notifications:transport", $"'{o.Notifications.Transport}' is not one of inmemory, rabbitmq, off");
                break;
        }

        return errors;
    }

    private void CheckReconcile(PipelineOptions o, HashSet<string> targetNames, Action<string, string> error)
    {
        var r = o.Reconcile;
        foreach (var (key, path) in new[] { ("reconcile:checks", r.Checks), ("reconcile:references", r.References) })
        {
            if (!string.IsNullOrEmpty(path))
            {
                var full = file is null ? path : Path.Combine(file.Directory, path);
                if (!File.Exists(full))
                {
                    error(key, $"file '{path}' does not exist (looked at {Path.GetFullPath(full)})");
                }
            }
        }

        if (r.Interval < TimeSpan.Zero)
        {
            error("reconcile:interval", "cannot be negative (zero disables the schedule)");
        }

        if (r.WatermarkWait <= TimeSpan.Zero)
        {
            error("reconcile:watermarkWait", "must be positive");
        }

        if (r.RecheckRounds < 0)
        {
            error("reconcile:recheckRounds", "must be 0 or more");
        }

        if (r.RangeRows < 1)
        {
            error("reconcile:rangeRows", "must be at least 1");
        }

        if (r.ListLimit < 1)
        {
            error("reconcile:listLimit", "must be at least 1");
        }

        foreach (var (database, target) in r.Databases)
        {
            if (!targetNames.Contains(target))
            {
                error($"reconcile:databases:{database}", $"'{target}' is not a configured target");
            }
        }
    }

    /// <summary>
    /// The combinations librdkafka accepts silently and then fails on at the first connection (or, worse, runs
    /// without the security the operator meant): SASL without a mechanism or credentials, credentials or
    /// certificates under a protocol that ignores them, a certificate file that is not there. Values are never
    /// echoed except the protocol and mechanism names (a password may sit in the properties).
    /// </summary>
    private static void CheckKafkaSecurity(Dictionary<string, string> properties, Action<string, string> error)
    {
        var protocol = (properties.GetValueOrDefault("security.protocol") ?? "plaintext").ToLowerInvariant();
        var sasl = protocol is "sasl_plaintext" or "sasl_ssl";
        var ssl = protocol is "ssl" or "sasl_ssl";
        var mechanismKey = properties.ContainsKey("sasl.mechanism") ? "sasl.mechanism" : "sasl.mechanisms";
        var mechanism = properties.GetValueOrDefault(mechanismKey)?.ToUpperInvariant();
        if (sasl)
        {
            if (string.IsNullOrWhiteSpace(mechanism))
            {
                error("kafka:properties:sasl.mechanism", $"required with security.protocol {protocol}: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or OAUTHBEARER "
                    + "(librdkafka would otherwise assume GSSAPI, Kerberos)");
            }
            else if (mechanism is "PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512")
            {
                foreach (var credential in new[] { "sasl.username", "sasl.password" })
                {
                    if (string.IsNullOrEmpty(properties.GetValueOrDefault(credential)))
                    {
                        error($"kafka:properties:{credential}", $"required with security.protocol {protocol} and sasl.mechanism {mechanism}"
                            + (credential == "sasl.password" ? " (give it as ${ENV_VARIABLE}, never inline)" : ""));
                    }
                }
            }
        }
        else
        {
            foreach (var key in properties.Keys.Where(k => k.StartsWith("sasl.", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                error($"kafka:properties:{key}", $"is set but security.protocol is {protocol}, which does not authenticate with SASL: the setting would be ignored. "
                    + "Use security.protocol sasl_ssl (or sasl_plaintext), or remove it");
            }
        }

        foreach (var key in new[] { "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.crl.location" })
        {
            if (!properties.TryGetValue(key, out var path) || string.IsNullOrEmpty(path))
            {
                continue;
            }

            if (!ssl)
            {
                error($"kafka:properties:{key}", $"is set but security.protocol is {protocol}, which does not use TLS: the certificate would be ignored. "
                    + "Use security.protocol ssl or sasl_ssl, or remove it");
            }
            else if (!(key == "ssl.ca.location" && path == "probe") && !File.Exists(path) && !Directory.Exists(path))
            {
                error($"kafka:properties:{key}", $"file '{path}' does not exist (looked at {Path.GetFullPath(path)})");
            }
        }
    }

    private static void CheckConnectionString(string key, string value, Action<string, string> error)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            error(key, "required: an Npgsql connection string (Host=...;Database=...;Username=...;Password=${ENV})");
            return;
        }

        try
        {
            var b = new NpgsqlConnectionStringBuilder(value);
            if (string.IsNullOrEmpty(b.Host))
            {
                error(key, "has no Host");
            }

            if (string.IsNullOrEmpty(b.Database))
            {
                error(key, "has no Database");
            }

            // TLS files are read only when the first connection is opened; a wrong path is named at start instead.
            foreach (var (keyword, path) in new[] { ("Root Certificate", b.RootCertificate), ("SSL Certificate", b.SslCertificate), ("SSL Key", b.SslKey) })
            {
                if (!string.IsNullOrEmpty(path) && !File.Exists(path))
                {
                    error(key, $"{keyword} file '{path}' does not exist (looked at {Path.GetFullPath(path)})");
                }
            }

            if (!string.IsNullOrEmpty(b.RootCertificate) && b.SslMode is SslMode.Disable)
            {
                error(key, "has a Root Certificate but SSL Mode=Disable: the certificate would never be used. Use SSL Mode=VerifyFull (or VerifyCA, Require)");
            }
        }
        catch (ArgumentException e)
        {
            // Npgsql's message names the bad keyword but never echoes the whole string (which may hold a password).
            error(key, $"is not a valid connection string: {e.Message}");
        }
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{0,47}$")]
    private static partial Regex ObjectName();

    [GeneratedRegex("^[a-z0-9_]{1,63}$")]
    private static partial Regex SlotName();

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex TopicName();
}

/// <summary>A column of a table, as config names it: <c>table.column</c> or <c>schema.table.column</c>.</summary>
public readonly record struct ColumnRef(TableId Table, string Column)
{
    public static bool TryParse(string text, out ColumnRef column, out string error)
    {
        column = default;
        var dot = LastUnquotedDot(text);
        if (dot <= 0 || dot == text.Length - 1)
        {
            error = $"'{text}' is not a column reference (expected table.column or schema.table.column)";
            return false;
        }

        var colText = text[(dot + 1)..];
        if (colText.StartsWith('"') && colText.EndsWith('"') && colText.Length >= 2)
        {
            colText = colText[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal);
        }

        if (!TableId.TryParse(text[..dot], "public", out var table, out error))
        {
            return false;
        }

        column = new ColumnRef(table, colText);
        return true;
    }

    private static int LastUnquotedDot(string s)
    {
        var inQuote = false;
        var last = -1;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '"')
            {
                inQuote = !inQuote;
            }
            else if (s[i] == '.' && !inQuote)
            {
                last = i;
            }
        }

        return last;
    }

    public override string ToString() => $"{Table}.{Column}";
}
