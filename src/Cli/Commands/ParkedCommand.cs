using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Contracts;
using Peeq.Cdc.Postgres;
using Peeq.Cdc.Sink.Parking;
using Peeq.Cdc.Transform.Mapping;

namespace Peeq.Cdc.Cli.Commands;

/// <summary><c>parked list|replay|discard</c>: what an operator sees of, and does with, parked rows.</summary>
public static class ParkedCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List parked rows of every target (or one), with position, table, reason and state");
        var listConfig = CliOptions.Config();
        var listTarget = new Option<string?>("--target") { Description = "Only this target" };
        var source = new Option<string?>("--source") { Description = "Only this source" };
        var status = new Option<string>("--status") { Description = "parked (default), replayed, discarded, superseded or all", DefaultValueFactory = _ => "parked" };
        var limit = new Option<int>("--limit") { Description = "At most this many rows per target", DefaultValueFactory = _ => 1000 };
        list.Options.Add(listConfig);
        list.Options.Add(listTarget);
        list.Options.Add(source);
        list.Options.Add(status);
        list.Options.Add(limit);
        list.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(listConfig)!.FullName);
            var wanted = parse.GetValue(status) is "all" ? null : parse.GetValue(status);
            if (wanted is not (null or "parked" or "replayed" or "discarded" or "superseded"))
            {
                Console.Error.WriteLine($"error: --status must be parked, replayed, discarded, superseded or all (got '{wanted}')");
                return 2;
            }

            var total = 0;
            foreach (var t in Targets(pipeline, parse.GetValue(listTarget)))
            {
                await using var db = NpgsqlDataSource.Create(PgConnections.Prepare(t.ConnectionString, "peeq-cdc parked"));
                var rows = await new ParkedActions(pipeline.Options, t, db, null).ListAsync(parse.GetValue(source), wanted, parse.GetValue(limit), ct);
                foreach (var r in rows)
                {
                    var whole = r.whole_transaction ? (r.held_behind is null ? " WHOLE" : $" HELD behind {r.held_behind}") : "";
                    Console.WriteLine($"{t.Name,-10} {r.id,8} {r.status,-9} {r.source,-12} {r.commit_lsn}#{r.seq}.{r.sub,-3} {r.source_table} -> {r.target_table ?? "?"}{whole}: {r.reason}"
                        + (r.resolved_by is null ? "" : $" [{r.status} by {r.resolved_by} at {r.resolved_at:u}]"));
                }

                total += rows.Count;
            }

            Console.WriteLine($"{total} row(s)");
            return 0;
        });

        return new Command("parked", "See and act on parked rows (rows that could not be mapped or applied)")
        {
            list,
            Action("replay", "Apply a parked row again, or the whole transaction it was parked with, at its original source position", replay: true),
            Action("discard", "Mark a parked row, or the whole transaction it was parked with, as discarded (never applied)", replay: false),
        };
    }

    private static Command Action(string name, string description, bool replay)
    {
        var config = CliOptions.Config();
        var target = new Option<string>("--target") { Description = "The target whose parked rows the ids are", Required = true };
        var by = new Option<string>("--by") { Description = "Who does it (recorded as resolved_by)", DefaultValueFactory = _ => $"{Environment.UserName}@{Environment.MachineName}" };
        var ids = new Argument<long[]>("id") { Description = "Parked row ids (from 'parked list')", Arity = ArgumentArity.OneOrMore };
        var command = new Command(name, description) { config, target, by, ids };
        command.SetAction(async (parse, ct) =>
        {
            var pipeline = PipelineConfig.Load(parse.GetValue(config)!.FullName);
            var t = pipeline.Options.Targets.FirstOrDefault(x => x.Name == parse.GetValue(target))
                ?? throw new ConfigurationException($"no target named '{parse.GetValue(target)}' is configured");
            var sealKey = pipeline.Options.ResolveSealKey();
            await using var db = NpgsqlDataSource.Create(PgConnections.Prepare(t.ConnectionString, "peeq-cdc parked"));
            var actions = new ParkedActions(pipeline.Options, t, db, sealKey, replay ? Remapper(pipeline, t.Name) : null);
            var failed = 0;
            foreach (var id in parse.GetValue(ids)!)
            {
                var outcome = replay ? await actions.ReplayAsync(id, parse.GetValue(by)!, ct) : await actions.DiscardAsync(id, parse.GetValue(by)!, ct);
                Console.WriteLine($"{id}: {outcome.Message}");
                failed += outcome.Done ? 0 : 1;
            }

            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    private static IEnumerable<TargetOptions> Targets(PipelineConfig pipeline, string? only) =>
        only is null ? pipeline.Options.Targets : pipeline.Options.Targets.Where(t => t.Name == only) is var l && l.Any() ? l
            : throw new ConfigurationException($"no target named '{only}' is configured");

    /// <summary>Maps a raw event the Transform parked again, with the target's mapping as configured now.</summary>
    private static Func<string, TableId, JsonObject?, string, IReadOnlyList<RowOperation>> Remapper(PipelineConfig pipeline, string target)
    {
        var mapping = Mappings.Load(pipeline)[target];
        return (_, _, key, payload) =>
        {
            if (RawEventCodec.Read(Encoding.UTF8.GetBytes(payload), key) is not RawChange change)
            {
                throw new FormatException("the parked payload is not a row change");
            }

            var output = new MappingOutput();
            try
            {
                mapping.Map(change, output);
            }
            catch (MappingException e)
            {
                throw new InvalidOperationException(e.Message, e);
            }

            return output.Operations;
        };
    }
}
