using System.Diagnostics;
using System.Globalization;
using Peeq.Cdc.Capture;
using Peeq.Cdc.Configuration;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Peeq.Cdc.Bench;

/// <summary>
/// One pipeline worker (<c>peeq-cdc capture|transform|sink</c>) as a child process of the bench, the way it runs in
/// production: its own process, its own memory. Its output goes to a log file in the work directory. Used by the
/// soak (to kill it) and by the memory benchmark (to read its own peak RSS).
/// </summary>
public sealed class WorkerProcess
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private WorkerProcess(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The worker's CPU time so far (user + system), or null once it has exited.</summary>
    public TimeSpan? CpuTime() => ProcessCpu.Of(_process.Id);

    /// <summary>Writes <paramref name="options"/> as the YAML config file the workers read.</summary>
    public static Task WriteConfigAsync(PipelineOptions options, string path) =>
        File.WriteAllTextAsync(path, new SerializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance)
            .WithTypeConverter(new TimeSpanYaml()).Build().Serialize(options));

    public static WorkerProcess Start(string stage, string config, string sealKey, string dir)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "peeq-cdc.dll"), stage, "--config", config, "--http", "off", "--log-level", "Warning" })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment[CaptureService.SealKeyVariable] = sealKey;
        var log = new StreamWriter(Path.Combine(dir, $"{stage}.log"), append: true) { AutoFlush = true };
        var p = Process.Start(psi)!;
        log.WriteLine($"==== {DateTime.UtcNow:O} started {stage} as process {p.Id}");
        void Write(string? line)
        {
            if (line is not null)
            {
                lock (log)
                {
                    log.WriteLine(line);
                }
            }
        }

        p.OutputDataReceived += (_, e) => Write(e.Data);
        p.ErrorDataReceived += (_, e) => Write(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new WorkerProcess(p, log);
    }

    /// <summary>
    /// The worker's peak resident memory since it started (the kernel's <c>VmHWM</c>), or null once it has exited.
    /// </summary>
    public long? PeakRssBytes()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    public void Kill9()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        lock (_log)
        {
            _log.WriteLine($"==== {DateTime.UtcNow:O} killed with SIGKILL");
        }
    }

    private sealed class TimeSpanYaml : IYamlTypeConverter
    {
        public bool Accepts(Type type) => type == typeof(TimeSpan);

        public object? ReadYaml(YamlDotNet.Core.IParser parser, Type type, ObjectDeserializer rootDeserializer) => throw new NotSupportedException();

        public void WriteYaml(YamlDotNet.Core.IEmitter emitter, object? value, Type type, ObjectSerializer serializer) =>
            emitter.Emit(new YamlDotNet.Core.Events.Scalar(((TimeSpan)value!).ToString("c", CultureInfo.InvariantCulture)));
    }
}
