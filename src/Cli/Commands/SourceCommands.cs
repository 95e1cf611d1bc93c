using System.CommandLine;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Capture.Snapshot;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cli.Commands;

/// <summary>
/// <c>source status|reset|remove</c> and <c>snapshot</c>: operator actions on a source's replication
/// slot, publications and snapshots (docs/capture.md, "Operations").
/// </summary>
public static class SourceCommands
{
    public static Command Create()
    {
        var source = new Command("source", "Inspect or reset a source's replication slot and snapshot state");
        source.Subcommands.Add(Status());
        source.Subcommands.Add(Action("reset",
            "Drop the source's slot and forget its applied position and snapshots, so the next capture start takes a new snapshot of every table (after a lost slot; stop its capture first)",
            SourceAdmin.ResetAsync));
        source.Subcommands.Add(Action("remove",
            "Drop the source's slot and the publications Capture created for it, and forget it in its target (then remove it from the configuration)",
            SourceAdmin.RemoveAsync));
        return source;
    }

    private static Command Action(string name, string description, Func<PipelineOptions, string, CancellationToken, Task<List<string>>> act)
    {
        var config = CliOptions.Config();
        var sourceName = new Argument<string>("source") { Description = "The source's name in the configuration" };
        var command = new Command(name, description) { config, sourceName };
        command.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            var s = parse.GetValue(sourceName)!;
            if (pipeline.Options.Sources.All(x => x.Name != s))
            {
                throw new ConfigurationException($"no source named '{s}' in {parse.GetValue(config)!.Name}");
            }

            foreach (var line in await act(pipeline.Options, s, ct))
            {
                Console.WriteLine($"{s}: {line}");
            }

            return 0;
        });
        return command;
    }

    private static Command Status()
    {
        var config = CliOptions.Config();
        var only = new Argument<string?>("source") { Description = "One source (default: all)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("status", "Slot health, applied position and snapshot progress per source; slots named like ours that no source owns") { config, only };
        command.SetAction(async (parse, ct) =>
        {
            var o = PipelineConfig.Load(parse.GetValue(config)!.FullName).Options;
            var applied = await PipelineProgress.AppliedAsync(o, ct);
            foreach (var s in o.Sources.Where(x => parse.GetValue(only) is not { } n || x.Name == n))
            {
                await using (var conn = await PgConnections.OpenAsync(s.ConnectionString, $"source '{s.Name}'", ct))
                {
                    var slot = await ReplicationSetup.ReadSlotAsync(conn, s.SlotName, ct);
                    Console.WriteLine(slot is null
                        ? $"{s.Name}: slot '{s.SlotName}' does not exist"
                        : $"{s.Name}: slot '{slot.Name}' {(slot.Active ? "active" : "inactive")}, wal_status {slot.WalStatus}, confirmed {slot.ConfirmedFlush}, "
                          + $"lag {Lsn.Distance(slot.CurrentLsn, slot.ConfirmedFlush):N0} bytes, retained WAL {Lsn.Distance(slot.CurrentLsn, slot.Restart):N0} bytes");
                }

                Console.WriteLine(applied.TryGetValue(s.Name, out var a)
                    ? $"{s.Name}: applied up to {a.EndLsn} (source commit {a.SourceCommitTime:u}, applied {a.AppliedAt:u})"
                    : $"{s.Name}: nothing applied yet");
                await using var t = await PgConnections.OpenAsync(o.Target(s.Target).ConnectionString, $"target '{s.Target}'", ct);
                foreach (var state in (await SnapshotStore.ReadAsync(t, s.Name, ct)).Values.OrderBy(x => x.Table))
                {
                    Console.WriteLine($"{s.Name}:   {SourceAdmin.Describe(state, DateTimeOffset.UtcNow)}");
                }
            }

            foreach (var orphan in await SourceAdmin.OrphanSlotsAsync(o, ct))
            {
                Console.WriteLine($"warning: slot '{orphan.Slot}' on {orphan.Server} (database '{orphan.Database}', {(orphan.Active ? "active" : "inactive")}, "
                    + $"retaining {orphan.RetainedBytes:N0} bytes of WAL) is named like ours but no configured source owns it; "
                    + $"if it is no longer needed: SELECT pg_drop_replication_slot('{orphan.Slot}');");
            }

            return 0;
        });
        return command;
    }

    /// <summary><c>snapshot --source S --table T</c>: re-snapshot one table while streaming continues, following its progress.</summary>
    public static Command Snapshot()
    {
        var config = CliOptions.Config();
        var source = new Option<string>("--source") { Description = "The source", Required = true };
        var table = new Option<string>("--table") { Description = "The table (table, schema.table, or quoted)", Required = true };
        var append = new Option<bool>("--append") { Description = "For a table without a primary key: append its rows (empty the target table first)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Only record the request; do not follow its progress" };
        var timeout = new Option<int>("--timeout") { Description = "Give up following after this many seconds (0: never); the snapshot itself goes on", DefaultValueFactory = _ => 0 };
        var command = new Command("snapshot", "Re-snapshot one table of a source in chunks while streaming continues (a running capture picks the request up within a second)")
        {
            config,
            source,
            table,
            append,
            noWait,
            timeout,
        };
        command.SetAction(async (parse, ct) =>
        {
            var o = PipelineConfig.Load(parse.GetValue(config)!.FullName).Options;
            var s = parse.GetValue(source)!;
            if (o.Sources.All(x => x.Name != s))
            {
                throw new ConfigurationException($"no source named '{s}' in {parse.GetValue(config)!.Name}");
            }

            var id = await SourceAdmin.RequestSnapshotAsync(o, s, parse.GetValue(table)!, parse.GetValue(append), ct);
            var t = TableId.Parse(parse.GetValue(table)!);
            Console.WriteLine($"{s}: snapshot of {t} requested (generation {id})");
            if (parse.GetValue(noWait))
            {
                return 0;
            }

            var deadline = parse.GetValue(timeout) is > 0 and var secs ? DateTime.UtcNow.AddSeconds(secs) : DateTime.MaxValue;
            var last = "";
            while (DateTime.UtcNow < deadline)
            {
                var state = await SourceAdmin.SnapshotStateAsync(o, s, t, ct);
                if (state is not null && state.Generation >= id)
                {
                    var line = SourceAdmin.Describe(state, DateTimeOffset.UtcNow);
                    if (line != last)
                    {
                        Console.WriteLine($"{s}: {line}");
                        last = line;
                    }

                    if (state.Done)
                    {
                        return 0;
                    }
                }

                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }

            Console.Error.WriteLine($"{s}: stopped following; the snapshot goes on (peeq-cdc source status {s})");
            return 1;
        });
        return command;
    }
}
