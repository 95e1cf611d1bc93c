using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Peeq.Cdc.Cli.Hosting;
using Peeq.Cdc.Configuration;
using Peeq.Cdc.Embedded;
using Peeq.Cdc.Postgres;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Peeq.Cdc.Tests.Integration.Infrastructure;

/// <summary>Runs pipeline stages inside the test process, with the ability to stop and start each.</summary>
public sealed class PipelineHarness(PipelineOptions options, EmbeddedKafka kafka, ITestOutputHelper output) : IAsyncDisposable
{
    private readonly Dictionary<Stages, WebApplication> _running = [];

    public PipelineOptions Options { get; } = options;

    public PipelineConfig Config { get; } = PipelineConfig.FromOptions(options);

    /// <param name="dashboard">Also serve the dashboard, /api/status and the notifications, as <c>run</c> does.</param>
    /// <summary>Also receives every log line, at every level (the stages then log at Trace).</summary>
    public LogCapture? Capture { get; init; }

    public async Task StartAsync(Stages stages = Stages.All, bool dashboard = false, string? reportsDirectory = null)
    {
        var level = Environment.GetEnvironmentVariable("PEEQ_TEST_LOG") == "debug" ? LogLevel.Debug : LogLevel.Information;
        var app = PipelineHost.Build(Config, kafka.Endpoint, stages, urls: null,
            Capture is null ? level : LogLevel.Trace,
            configure: b =>
            {
                b.Logging.AddProvider(new TestOutputLoggerProvider(output, level));
                if (Capture is not null)
                {
                    b.Logging.AddProvider(Capture);
                }
            },
            dashboard: dashboard, reportsDirectory: reportsDirectory);
        await app.StartAsync();
        _running[stages] = app;
    }

    /// <summary>The running process for these stages (its services, and its URL: /metrics, /api/status, the dashboard).</summary>
    public WebApplication App(Stages stages) => _running[stages];

    public static string BaseUrl(WebApplication app) => app.Urls.First().TrimEnd('/');

    public async Task StopAsync(Stages stages)
    {
        if (_running.Remove(stages, out var app))
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Waits until every source is applied up to its WAL position now; fails the test on timeout.</summary>
    public async Task DrainAsync(TimeSpan? timeout = null)
    {
        var t = timeout ?? TimeSpan.FromSeconds(90);
        var ok = await PipelineProgress.WaitForDrainAsync(Options, t, CancellationToken.None);
        Assert.True(ok, $"the pipeline did not drain within {t.TotalSeconds:0} s");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var stages in _running.Keys.ToList())
        {
            await StopAsync(stages);
        }
    }

    /// <summary>Options for one source and one target with the identity mapping and test-friendly intervals.</summary>
    public static PipelineOptions Identity(string name, string sourceCs, string targetCs, string bootstrap, params string[] tables) => new()
    {
        Kafka = new KafkaOptions { BootstrapServers = bootstrap, TopicPrefix = $"t-{name}" },
        Sources = [new SourceOptions { Name = name, ConnectionString = sourceCs, Target = "target", Tables = [.. tables] }],
        Targets = [new TargetOptions { Name = "target", ConnectionString = targetCs }],
        Capture = new CaptureOptions
        {
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            AckInterval = TimeSpan.FromMilliseconds(100),
            RetryDelay = TimeSpan.FromMilliseconds(200),
            MaxRetryDelay = TimeSpan.FromSeconds(2),
        },
        Sink = new SinkOptions { RetryDelay = TimeSpan.FromMilliseconds(200), MaxRetryDelay = TimeSpan.FromSeconds(2) },
        Http = new HttpOptions { Urls = "" },
    };

    /// <summary>Writes options as a YAML config file (for pipelines run as separate processes).</summary>
    public static string WriteConfig(PipelineOptions options, string path)
    {
        var yaml = new SerializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance)
            .WithTypeConverter(new TimeSpanYaml())
            .Build().Serialize(options);
        File.WriteAllText(path, yaml);
        return path;
    }

    private sealed class TimeSpanYaml : YamlDotNet.Serialization.IYamlTypeConverter
    {
        public bool Accepts(Type type) => type == typeof(TimeSpan);

        public object? ReadYaml(YamlDotNet.Core.IParser parser, Type type, ObjectDeserializer rootDeserializer) =>
            throw new NotSupportedException();

        public void WriteYaml(YamlDotNet.Core.IEmitter emitter, object? value, Type type, ObjectSerializer serializer) =>
            emitter.Emit(new YamlDotNet.Core.Events.Scalar(((TimeSpan)value!).ToString("c", System.Globalization.CultureInfo.InvariantCulture)));
    }
}

/// <summary>The peeq-cdc executable as a child process, so a test can kill -9 it.</summary>
public sealed class PipelineProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper _output;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines;

    private PipelineProcess(Process process, ITestOutputHelper output, System.Collections.Concurrent.ConcurrentQueue<string> lines)
    {
        _process = process;
        _output = output;
        _lines = lines;
    }

    /// <summary>Everything the process printed so far (stdout and stderr), line by line.</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    public int Id => _process.Id;

    public static string Executable => Path.Combine(AppContext.BaseDirectory, "peeq-cdc.dll");

    public static PipelineProcess Start(ITestOutputHelper output, params string[] args) => Start(output, null, args);

    /// <summary>Starts the executable with extra environment variables.</summary>
    public static PipelineProcess Start(ITestOutputHelper output, IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Executable);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string?>())
        {
            psi.Environment[k] = v;
        }

        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var p = Process.Start(psi)!;
        void Forward(string? line)
        {
            if (line is null)
            {
                return;
            }

            lines.Enqueue(line);
            try
            {
                output.WriteLine($"[peeq-cdc {p.Id}] {line}");
            }
            catch (InvalidOperationException)
            {
            }
        }

        p.OutputDataReceived += (_, e) => Forward(e.Data);
        p.ErrorDataReceived += (_, e) => Forward(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new PipelineProcess(p, output, lines);
    }

    /// <summary>Runs a command to completion; returns its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output, TimeSpan Elapsed)> RunAsync(TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Executable);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, (await stdout) + (await stderr), sw.Elapsed);
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill9()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10000);
        _output.WriteLine($"[test] killed peeq-cdc {_process.Id} with SIGKILL");
    }

    public bool HasExited => _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
