using System.CommandLine;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Workload;
using Peeq.Cdc.Workload.Seeding;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>seed-data</c>: creates the 22 legacy databases and fills them (docs/data.md).</summary>
public static class SeedDataCommand
{
    public static Command Create()
    {
        var world = new LegacyWorldOptions();
        var scale = new Option<double>("--scale") { Description = "1 = the seed's volumes (100,000 fans, 2,000,000 purchases, ...)", DefaultValueFactory = _ => 0.01 };
        var seed = new Option<long>("--seed") { Description = "Same seed, same data", DefaultValueFactory = _ => 1 };
        var recreate = new Option<bool>("--recreate") { Description = "Drop databases of the same name first (otherwise an existing one is an error)" };
        var parallel = new Option<int>("--parallel") { Description = "Databases loaded at the same time", DefaultValueFactory = _ => 2 };
        var only = new Option<string[]>("--only") { Description = "Only these databases (repeatable: wallet, fan, ...)" };
        var embedded = new Option<bool>("--embedded") { Description = "Start a throwaway PostgreSQL, seed it, print its connection string and keep it until Ctrl+C" };
        var summary = new Option<FileInfo?>("--summary") { Description = "Write the summary (rows per table, sizes, anomalies) as JSON here" };
        var command = new Command("seed-data", "Create the 22 legacy databases and fill them with realistic, deterministic data, anomalies included")
        {
            scale,
            seed,
            recreate,
            parallel,
            only,
            embedded,
            summary,
        };
        world.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            LegacyWorld? legacy;
            try
            {
                legacy = world.Resolve(parse);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            var isEmbedded = parse.GetValue(embedded);
            if (legacy is null == !isEmbedded)
            {
                Console.Error.WriteLine("error: give the server(s) (--server or --servers-file), or --embedded");
                return 2;
            }

            await using var pg = isEmbedded ? await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { Name = "seed" }, ct) : null;
            if (pg is not null)
            {
                legacy = LegacyWorld.OnOneServer(pg.ConnectionString(), parse.GetValue(world.Prefix) ?? LegacyWorld.DefaultPrefix);
                Console.Error.WriteLine($"seed-data: embedded PostgreSQL in {pg.Root}, port {pg.Port}");
            }

            var options = new SeedOptions
            {
                Scale = parse.GetValue(scale),
                Seed = parse.GetValue(seed),
                Recreate = parse.GetValue(recreate) || pg is not null,
                Parallelism = parse.GetValue(parallel),
                Only = parse.GetValue(only) is { Length: > 0 } o ? o : null,
            };
            SeedSummary result;
            try
            {
                result = await new LegacySeeder(legacy!, options, Console.Error).RunAsync(ct);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or Postgres.DatabaseUnavailableException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            result.Print(Console.Out);
            if (parse.GetValue(summary) is { } file)
            {
                await result.WriteAsync(file.FullName, ct);
                Console.WriteLine($"seed-data: summary written to {file.FullName}");
            }

            if (pg is not null)
            {
                Console.WriteLine();
                Console.WriteLine($"seed-data: the legacy databases are served at {pg.ConnectionString()} (databases {legacy!.Prefix}<name>); Ctrl+C to stop and delete them");
                foreach (var db in legacy.Databases.Where(d => options.Only is null || options.Only.Contains(d.Key)))
                {
                    Console.WriteLine($"  {db.Key,-22} {legacy.ConnectionString(db)}");
                }

                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                }
            }

            return 0;
        });
        return command;
    }
}
