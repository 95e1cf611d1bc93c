using System.CommandLine;
using Peeq.Cdc.Capture.Replication;
using Peeq.Cdc.Cli.Commands;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Postgres;

namespace Peeq.Cdc.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        try
        {
            if (Faults.FaultPoint.Describe() is { } fault)
            {
                Console.Error.WriteLine($"fault injection armed: {fault} ({Faults.FaultPoint.Variable}); this process will kill itself there");
            }
        }
        catch (TypeInitializationException e) when (e.InnerException is ArgumentException bad)
        {
            Console.Error.WriteLine($"error: {bad.Message}");
            return 2;
        }

        var root = BuildRoot();
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Unwrap(e) is ConfigurationException or CaptureSetupException or DatabaseUnavailableException or Transform.Mapping.Declarative.MappingFileException)
        {
            // Problems an operator fixes: one clear message, no stack trace.
            Console.Error.WriteLine($"error: {Unwrap(e).Message}");
            return 2;
        }
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("peeq-cdc: keeps consolidated PostgreSQL databases continuously and provably in sync with the legacy databases they replace");
        foreach (var c in StageCommands.Create())
        {
            root.Subcommands.Add(c);
        }

        root.Subcommands.Add(ReconcileCommand.Create());
        root.Subcommands.Add(ParkedCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(DevCommands.Create());
        root.Subcommands.Add(ConfigCommand.Create());
        root.Subcommands.Add(SourceCommands.Create());
        root.Subcommands.Add(SourceCommands.Snapshot());
        root.Subcommands.Add(SeedDataCommand.Create());
        root.Subcommands.Add(WorkloadCommand.Create());
        root.Subcommands.Add(MappingsCommand.Create());
        root.Subcommands.Add(CutoverCommand.Create());
        foreach (var c in OperationsCommands.Create())
        {
            root.Subcommands.Add(c);
        }
        return root;
    }

    private static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerException!) : e;
}
