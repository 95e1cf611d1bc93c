using System.Text.Json;
using Peeq.Cdc.Operations.Connectors;

namespace Peeq.Cdc.Tests.Unit.Deploy;

/// <summary>connectors/ is what `peeq-cdc connectors generate` makes of deploy/peeq-cdc.example.yaml, and safe.</summary>
public sealed class ConnectorsTests
{
    private static readonly string Example = Repository.Path("deploy", "peeq-cdc.example.yaml");
    private static readonly string Dir = Repository.Path("connectors");

    [Fact]
    public void connectors_folder_is_in_sync_with_the_example_config()
    {
        var config = DebeziumConnectors.LoadConfig(Example).Options;
        var generated = DebeziumConnectors.Generate(config);
        var committed = Directory.EnumerateFiles(Dir, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(generated.Select(g => g.FileName).Order(StringComparer.Ordinal), committed);
        foreach (var g in generated)
        {
            Assert.True(File.ReadAllText(Path.Combine(Dir, g.FileName)) == g.Json,
                $"connectors/{g.FileName} differs from what the config generates: run ./dev connectors generate --config deploy/peeq-cdc.example.yaml --out connectors/");
        }

        Assert.Equal(22, generated.Count);
    }

    [Fact]
    public void every_connector_has_its_own_slot_no_plaintext_secret_and_the_settings_transform_needs()
    {
        var config = DebeziumConnectors.LoadConfig(Example).Options;
        foreach (var source in config.Sources)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, source.Name + ".json")));
            var c = doc.RootElement.GetProperty("config");
            string Get(string key) => c.GetProperty(key).GetString()!;
            Assert.NotEqual(source.SlotName, Get("slot.name"));
            Assert.NotEqual(source.PublicationName, Get("publication.name"));
            Assert.StartsWith("debezium_", Get("slot.name"), StringComparison.Ordinal);
            Assert.Matches(@"^\$\{env:[A-Z_][A-Z0-9_]*\}$", Get("database.password"));
            Assert.Equal("string", Get("decimal.handling.mode"));
            Assert.Equal("true", Get("provide.transaction.metadata"));
            Assert.Equal(DebeziumConnectors.ToastPlaceholder, Get("unavailable.value.placeholder"));
            Assert.Equal(source.Tables.Count, Get("table.include.list").Split(',').Length);
            Assert.Equal(source.SensitiveColumns.Count > 0, c.TryGetProperty("column.exclude.list", out _));
        }

        var vault = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "encryption.json"))).RootElement.GetProperty("config");
        Assert.Equal(@"public\.vault_namespaces\.private_key,public\.vault_secrets\.value", vault.GetProperty("column.exclude.list").GetString());
    }

    [Fact]
    public void a_literal_password_becomes_an_env_reference_and_is_never_written()
    {
        var dir = Directory.CreateTempSubdirectory("peeq-connectors-");
        try
        {
            var file = Path.Combine(dir.FullName, "c.yaml");
            File.WriteAllText(file, """
                kafka: { bootstrapServers: "k:9092" }
                sources:
                  - { name: shop-db, connectionString: "Host=h;Database=d;Username=u;Password=hunter2", target: t, tables: [orders] }
                targets:
                  - { name: t, connectionString: "Host=h;Database=t;Username=u;Password=${T_PASSWORD}" }
                """);
            var generated = DebeziumConnectors.Generate(DebeziumConnectors.LoadConfig(file).Options).Single();
            Assert.DoesNotContain("hunter2", generated.Json, StringComparison.Ordinal);
            Assert.Contains("\"database.password\": \"${env:SHOP_DB_DB_PASSWORD}\"", generated.Json, StringComparison.Ordinal);
            Assert.Contains(generated.Notes, n => n.Contains("literal password", StringComparison.Ordinal));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
