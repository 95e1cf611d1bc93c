using Peeq.Cdc.Configuration;

namespace Peeq.Cdc.Tests.Unit;

public sealed class ConfigurationTests
{
    private const string Valid = """
        kafka:
          bootstrapServers: localhost:9092
        sources:
          - name: wallet
            connectionString: Host=legacy;Database=wallet;Username=capture;Password=${WALLET_PASSWORD}
            target: commerce
            tables: [balance_transaction, "public.create_transaction"]
            sensitiveColumns: [balance_transaction.meta_data]
            financialTables: [balance_transaction]
        targets:
          - name: commerce
            connectionString: Host=target;Database=peeq_commerce;Username=sink
        capture:
          heartbeatInterval: 00:00:05
        """;

    private static string Write(string yaml)
    {
        var path = Path.Combine(Path.GetTempPath(), $"peeq-unit-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static ConfigurationException Fails(string yaml, Func<string, string?>? env = null)
    {
        Environment.SetEnvironmentVariable("WALLET_PASSWORD", "s3cret");
        return Assert.Throws<ConfigurationException>(() => PipelineConfig.Load(Write(yaml)));
    }

    [Fact]
    public void valid_file_binds_with_secrets_from_the_environment()
    {
        Environment.SetEnvironmentVariable("WALLET_PASSWORD", "s3cret");
        var config = PipelineConfig.Load(Write(Valid));
        var source = config.Options.Sources.Single();
        Assert.Contains("Password=s3cret", source.ConnectionString);
        Assert.Equal(["balance_transaction", "public.create_transaction"], source.Tables);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Options.Capture.HeartbeatInterval);
        Assert.Equal("peeq_cdc_wallet", source.SlotName);
        Assert.True(config.Options.Targets.Single().IsIdentity);
    }

    [Fact]
    public void unknown_key_names_line_and_suggestion()
    {
        var e = Fails(Valid.Replace("    financialTables:", "    finacialTables:"));
        Assert.Matches(@"peeq-unit-\w+\.yaml:9: sources\[0\]\.finacialTables: unknown setting \(did you mean 'financialTables'\?\)", e.Message);
    }

    [Fact]
    public void wrong_types_are_named()
    {
        var e = Fails(Valid.Replace("heartbeatInterval: 00:00:05", "heartbeatInterval: soon") + "\nsink:\n  maxBatchRows: [1, 2]\n");
        Assert.Contains("capture.heartbeatInterval: 'soon' is not a duration", e.Message);
        Assert.Contains("sink.maxBatchRows: expected a whole number, found a list", e.Message);
    }

    [Fact]
    public void cross_references_are_checked()
    {
        var e = Fails(Valid.Replace("target: commerce", "target: comerce").Replace("[balance_transaction.meta_data]", "[other.meta_data]"));
        Assert.Contains("sources[0].target: 'comerce' is not a configured target (did you mean 'commerce'?)", e.Message);
        Assert.Contains("sources[0].sensitiveColumns[0]: table public.other is not among this source's tables", e.Message);
    }

    [Fact]
    public void missing_environment_variable_is_named_not_left_empty()
    {
        Environment.SetEnvironmentVariable("WALLET_PASSWORD", null);
        var e = Assert.Throws<ConfigurationException>(() => PipelineConfig.Load(Write(Valid)));
        Assert.Contains("sources[0].connectionString: environment variable 'WALLET_PASSWORD' is not set", e.Message);
    }

    [Fact]
    public void bad_connection_string_and_duplicate_names_are_reported_together()
    {
        var yaml = Valid.Replace("Host=target;Database=peeq_commerce;Username=sink", "Hots=target").Replace("capture:\n  heartbeatInterval: 00:00:05", "") + """
              - name: commerce
                connectionString: Host=x;Database=y
            """;
        var e = Fails(yaml);
        Assert.Contains("targets[0].connectionString: is not a valid connection string", e.Message);
        Assert.Contains("target 'commerce' is configured twice", e.Message);
        Assert.DoesNotContain("s3cret", e.Message);
    }

    [Fact]
    public void invalid_yaml_names_the_line()
    {
        var e = Fails("kafka:\n  bootstrapServers: [unclosed\n");
        Assert.Matches(@"\.yaml:\d+: not valid YAML", e.Message);
    }

    /// <summary>A certificate file that exists (the validator checks that TLS files are there).</summary>
    private static string CertFile(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), $"peeq-unit-{Guid.NewGuid():N}-{name}");
        File.WriteAllText(path, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
        return path;
    }

    private static string Kafka(string properties) =>
        Valid.Replace("  bootstrapServers: localhost:9092\n", "  bootstrapServers: localhost:9092\n  properties:\n" + properties);

    /// <summary>TLS for PostgreSQL (Npgsql's SslMode and certificates in the connection string) and for Kafka (SASL_SSL) pass through to the clients as configured.</summary>
    [Fact]
    public void tls_settings_pass_through_config_to_postgres_and_kafka()
    {
        Environment.SetEnvironmentVariable("WALLET_PASSWORD", "s3cret");
        var (pgCa, kafkaCa) = (CertFile("pg-ca.pem"), CertFile("kafka-ca.pem"));
        var yaml = Kafka($"    security.protocol: SASL_SSL\n    sasl.mechanism: SCRAM-SHA-512\n    sasl.username: pipeline\n    sasl.password: ${{WALLET_PASSWORD}}\n    ssl.ca.location: {kafkaCa}\n")
            .Replace("Host=legacy;Database=wallet;", $"Host=legacy;Database=wallet;SslMode=VerifyFull;Root Certificate={pgCa};");
        var config = PipelineConfig.Load(Write(yaml));

        var pg = new Npgsql.NpgsqlConnectionStringBuilder(Postgres.PgConnections.Prepare(config.Options.Sources.Single().ConnectionString, "peeq-cdc test"));
        Assert.Equal(Npgsql.SslMode.VerifyFull, pg.SslMode);
        Assert.Equal(pgCa, pg.RootCertificate);

        var producer = Cdc.Kafka.KafkaEndpoint.FromOptions(config.Options.Kafka).ProducerConfig("test");
        var set = producer.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("SASL_SSL", set["security.protocol"]);
        Assert.Equal("SCRAM-SHA-512", set["sasl.mechanism"]);
        Assert.Equal("s3cret", set["sasl.password"]);
        Assert.Equal(kafkaCa, set["ssl.ca.location"]);
    }

    /// <summary>
    /// What librdkafka and Npgsql would accept at start and fail on (or quietly run without) at the first connection:
    /// each named with its key, and no error repeats the password the properties hold.
    /// </summary>
    [Theory]
    [InlineData("    security.protocol: SASL_SSL\n    sasl.password: ${WALLET_PASSWORD}\n", "kafka.properties.sasl.mechanism: required with security.protocol sasl_ssl")]
    [InlineData("    security.protocol: SASL_SSL\n    sasl.mechanism: SCRAM-SHA-512\n    sasl.password: ${WALLET_PASSWORD}\n",
        "kafka.properties.sasl.username: required with security.protocol sasl_ssl and sasl.mechanism SCRAM-SHA-512")]
    [InlineData("    security.protocol: sasl_plaintext\n    sasl.mechanism: PLAIN\n    sasl.username: pipeline\n",
        "kafka.properties.sasl.password: required with security.protocol sasl_plaintext and sasl.mechanism PLAIN (give it as ${ENV_VARIABLE}, never inline)")]
    [InlineData("    sasl.mechanism: PLAIN\n    sasl.username: pipeline\n    sasl.password: ${WALLET_PASSWORD}\n",
        "kafka.properties.sasl.password: is set but security.protocol is plaintext, which does not authenticate with SASL")]
    [InlineData("    security.protocol: SSL\n    ssl.ca.location: /nonexistent/peeq/kafka-ca.pem\n",
        "kafka.properties.ssl.ca.location: file '/nonexistent/peeq/kafka-ca.pem' does not exist")]
    [InlineData("    security.protocol: sasl_plaintext\n    sasl.mechanism: GSSAPI\n    ssl.ca.location: probe\n",
        "kafka.properties.ssl.ca.location: is set but security.protocol is sasl_plaintext, which does not use TLS")]
    public void kafka_tls_and_sasl_settings_that_cannot_work_are_refused_at_start_naming_the_key(string properties, string expected)
    {
        var e = Fails(Kafka(properties));
        Assert.Contains(expected, e.Message.Replace("kafka:properties:", "kafka.properties.", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void kafka_sasl_ssl_with_gssapi_or_a_probed_ca_needs_no_password_or_file()
    {
        Environment.SetEnvironmentVariable("WALLET_PASSWORD", "s3cret");
        var config = PipelineConfig.Load(Write(Kafka("    security.protocol: SASL_SSL\n    sasl.mechanism: GSSAPI\n    ssl.ca.location: probe\n")));
        Assert.Equal("SASL_SSL", config.Options.Kafka.Properties["security.protocol"]);
    }

    [Fact]
    public void postgres_tls_files_that_are_not_there_and_a_certificate_with_ssl_disabled_are_refused_naming_the_connection_string()
    {
        var missing = Fails(Valid.Replace("Host=target;Database=peeq_commerce;", "Host=target;Database=peeq_commerce;SSL Mode=VerifyFull;Root Certificate=/nonexistent/peeq/ca.pem;SSL Key=/nonexistent/peeq/client.key;"));
        Assert.Contains("targets[0].connectionString: Root Certificate file '/nonexistent/peeq/ca.pem' does not exist", missing.Message, StringComparison.Ordinal);
        Assert.Contains("SSL Key file '/nonexistent/peeq/client.key' does not exist", missing.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", missing.Message, StringComparison.Ordinal);

        var disabled = Fails(Valid.Replace("Host=legacy;Database=wallet;", $"Host=legacy;Database=wallet;SSL Mode=Disable;Root Certificate={CertFile("ca.pem")};"));
        Assert.Contains("sources[0].connectionString: has a Root Certificate but SSL Mode=Disable", disabled.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", disabled.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void tls_typos_are_named_at_start()
    {
        var pg = Fails(Valid.Replace("Host=target;Database=peeq_commerce;", "Host=target;Database=peeq_commerce;SslMode=Always;"));
        Assert.Contains("targets[0].connectionString", pg.Message.Replace(':', '.'));
        Assert.Contains("is not a valid connection string", pg.Message);

        var kafka = Fails(Valid.Replace("  bootstrapServers: localhost:9092\n", "  bootstrapServers: localhost:9092\n  properties:\n    security.protocol: SASL_TLS\n"));
        Assert.Contains("security.protocol", kafka.Message);
        Assert.Contains("'SASL_TLS' is not one of plaintext, ssl, sasl_plaintext, sasl_ssl", kafka.Message);
    }
    [Fact]
    public void the_sealing_key_comes_from_the_file_by_reference_and_a_bad_one_is_named_without_its_value()
    {
        var key = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        Environment.SetEnvironmentVariable("PEEQ_UNIT_SEAL", key);
        Environment.SetEnvironmentVariable("WALLET_PASSWORD", "s3cret");
        var config = PipelineConfig.Load(Write(Valid + "\nsealKey: ${PEEQ_UNIT_SEAL}\n"));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), config.Options.ResolveSealKey());

        const string bad = "bm90LTMyLWJ5dGVzLWxvbmc=";
        var e = Fails(Valid + $"\nsealKey: {bad}\n");
        Assert.Contains("sealKey: the sealing key must be 32 bytes, got 17", e.Message);
        Assert.DoesNotContain(bad, e.Message);
        Assert.Contains("sealKey: the sealing key must be 32 bytes in base64", Fails(Valid + "\nsealKey: '%%%'\n").Message);
    }
}
