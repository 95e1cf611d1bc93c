using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using Peeq.Cdc.Kafka;

namespace Peeq.Cdc.Embedded;

/// <summary>
/// librdkafka's mock cluster: a real Kafka-protocol broker living inside this process. It keeps its
/// data in memory (about 5 MiB per partition, older messages silently dropped) and is for
/// development and tests only; production uses Kafka. Topics are created through the mock API,
/// because the mock does not serve CreateTopics.
/// </summary>
public sealed class EmbeddedKafka : ITopicAdmin, IDisposable
{
    private readonly IntPtr _rk;
    private readonly IntPtr _cluster;
    private readonly BootstrapProxy? _proxy;
    private bool _disposed;

    private EmbeddedKafka(IntPtr rk, IntPtr cluster, string brokerAddresses, BootstrapProxy? proxy, int brokers)
    {
        _rk = rk;
        _cluster = cluster;
        BrokerAddresses = brokerAddresses;
        _proxy = proxy;
        Brokers = brokers;
    }

    /// <summary>Bootstrap address for clients (the fixed port when one was asked for).</summary>
    public string BootstrapServers => _proxy is null ? BrokerAddresses : $"127.0.0.1:{_proxy.Port}";

    /// <summary>The mock brokers' own listeners.</summary>
    public string BrokerAddresses { get; }

    public int Brokers { get; }

    public KafkaEndpoint Endpoint => new(BootstrapServers, admin: this);

    /// <summary>Starts a mock cluster of <paramref name="brokers"/> brokers; <paramref name="port"/> &gt; 0 adds a fixed bootstrap port.</summary>
    public static EmbeddedKafka Start(int brokers = 1, int port = 0)
    {
        var api = Native.Instance;
        var conf = api.ConfNew();
        var err = new byte[512];
        // This handle only hosts the cluster; silence its "no bootstrap.servers" warning.
        api.ConfSet(conf, "log_level", "0", err, (UIntPtr)err.Length);
        var rk = api.New(0 /* producer */, conf, err, (UIntPtr)err.Length);
        if (rk == IntPtr.Zero)
        {
            throw new InvalidOperationException($"rd_kafka_new failed: {System.Text.Encoding.ASCII.GetString(err).TrimEnd('\0')}");
        }

        var cluster = api.MockClusterNew(rk, brokers);
        if (cluster == IntPtr.Zero)
        {
            api.Destroy(rk);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        var addresses = Marshal.PtrToStringAnsi(api.MockClusterBootstraps(cluster))!;
        BootstrapProxy? proxy = null;
        if (port > 0)
        {
            proxy = new BootstrapProxy(port, addresses.Split(',')[0]);
        }

        return new EmbeddedKafka(rk, cluster, addresses, proxy, brokers);
    }

    public Task EnsureTopicAsync(string topic, int partitions, CancellationToken ct)
    {
        CreateTopic(topic, partitions);
        return Task.CompletedTask;
    }

    /// <summary>Creates a topic (an existing one is left as it is).</summary>
    public void CreateTopic(string topic, int partitions = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rc = Native.Instance.MockTopicCreate(_cluster, topic, partitions, 1);
        if (rc != 0 && rc != (int)ErrorCode.TopicAlreadyExists)
        {
            throw new InvalidOperationException($"rd_kafka_mock_topic_create({topic}) failed: {(ErrorCode)rc}");
        }
    }

    /// <summary>Takes a broker (or all, with -1) down: connections are closed and refused until <see cref="SetBrokerUp"/>.</summary>
    public void SetBrokerDown(int brokerId = -1) => Check(Native.Instance.MockBrokerSetDown(_cluster, brokerId), "broker_set_down");

    public void SetBrokerUp(int brokerId = -1) => Check(Native.Instance.MockBrokerSetUp(_cluster, brokerId), "broker_set_up");

    /// <summary>
    /// How long the coordinator waits for more members before the first assignment of an empty consumer group
    /// (Kafka's group.initial.rebalance.delay.ms; 3 s in the mock, as in Kafka). Zero is what single-broker
    /// development setups use: a lone consumer, or one restarted after a kill, gets its partitions at once.
    /// </summary>
    public void SetGroupInitialRebalanceDelay(TimeSpan delay)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Native.Instance.MockGroupInitialRebalanceDelay(_cluster, (int)delay.TotalMilliseconds);
    }

    /// <summary>The next requests of type <paramref name="apiKey"/> (0 = Produce, 1 = Fetch, 8 = OffsetCommit) fail with these errors, in order.</summary>
    public void PushRequestErrors(short apiKey, params ErrorCode[] errors)
    {
        var codes = errors.Select(e => (int)e).ToArray();
        Native.Instance.MockPushRequestErrorsArray(_cluster, apiKey, (UIntPtr)codes.Length, codes);
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new InvalidOperationException($"rd_kafka_mock_{what} failed: {(ErrorCode)rc}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _proxy?.Dispose();
        Native.Instance.MockClusterDestroy(_cluster);
        Native.Instance.Destroy(_rk);
    }

    /// <summary>
    /// The librdkafka that Confluent.Kafka loaded. On Debian the package's default librdkafka.so
    /// needs libsasl2.so.3, so Confluent.Kafka falls back to its centos8 build; the mock API must be
    /// called in that same file, so it is found in this process's own mappings.
    /// </summary>
    private sealed class Native
    {
        private static readonly Lazy<Native> Lazy = new(() => new Native());

        public static Native Instance => Lazy.Value;

        private Native()
        {
            _ = Library.VersionString; // makes Confluent.Kafka load its native library
            var path = File.ReadLines("/proc/self/maps")
                .Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
                .Where(a => a.Length == 6 && a[5].Contains("librdkafka", StringComparison.Ordinal))
                .Select(a => a[5].Trim())
                .FirstOrDefault()
                ?? throw new InvalidOperationException("Confluent.Kafka did not load a librdkafka library (none found in /proc/self/maps)");
            Path = path;
            var h = NativeLibrary.Load(path);
            T F<T>(string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(h, name));
            ConfNew = F<ConfNewFn>("rd_kafka_conf_new");
            ConfSet = F<ConfSetFn>("rd_kafka_conf_set");
            New = F<NewFn>("rd_kafka_new");
            Destroy = F<DestroyFn>("rd_kafka_destroy");
            MockClusterNew = F<MockClusterNewFn>("rd_kafka_mock_cluster_new");
            MockClusterDestroy = F<MockClusterDestroyFn>("rd_kafka_mock_cluster_destroy");
            MockClusterBootstraps = F<MockClusterBootstrapsFn>("rd_kafka_mock_cluster_bootstraps");
            MockTopicCreate = F<MockTopicCreateFn>("rd_kafka_mock_topic_create");
            MockBrokerSetDown = F<MockBrokerFn>("rd_kafka_mock_broker_set_down");
            MockBrokerSetUp = F<MockBrokerFn>("rd_kafka_mock_broker_set_up");
            MockPushRequestErrorsArray = F<MockPushErrorsFn>("rd_kafka_mock_push_request_errors_array");
            MockGroupInitialRebalanceDelay = F<MockGroupDelayFn>("rd_kafka_mock_group_initial_rebalance_delay_ms");
        }

        public string Path { get; }

        public ConfNewFn ConfNew { get; }
        public ConfSetFn ConfSet { get; }
        public NewFn New { get; }
        public DestroyFn Destroy { get; }
        public MockClusterNewFn MockClusterNew { get; }
        public MockClusterDestroyFn MockClusterDestroy { get; }
        public MockClusterBootstrapsFn MockClusterBootstraps { get; }
        public MockTopicCreateFn MockTopicCreate { get; }
        public MockBrokerFn MockBrokerSetDown { get; }
        public MockBrokerFn MockBrokerSetUp { get; }
        public MockPushErrorsFn MockPushRequestErrorsArray { get; }
        public MockGroupDelayFn MockGroupInitialRebalanceDelay { get; }
    }

    internal delegate IntPtr ConfNewFn();
    internal delegate int ConfSetFn(IntPtr conf, [MarshalAs(UnmanagedType.LPStr)] string name, [MarshalAs(UnmanagedType.LPStr)] string value, byte[] errstr, UIntPtr size);
    internal delegate IntPtr NewFn(int type, IntPtr conf, byte[] errstr, UIntPtr size);
    internal delegate void DestroyFn(IntPtr rk);
    internal delegate IntPtr MockClusterNewFn(IntPtr rk, int brokers);
    internal delegate void MockClusterDestroyFn(IntPtr cluster);
    internal delegate IntPtr MockClusterBootstrapsFn(IntPtr cluster);
    internal delegate int MockTopicCreateFn(IntPtr cluster, [MarshalAs(UnmanagedType.LPStr)] string topic, int partitions, int replicationFactor);
    internal delegate int MockBrokerFn(IntPtr cluster, int brokerId);
    internal delegate void MockPushErrorsFn(IntPtr cluster, short apiKey, UIntPtr count, int[] errors);
    internal delegate void MockGroupDelayFn(IntPtr cluster, int delayMs);

    /// <summary>
    /// The mock brokers listen on ports the kernel picks; a fixed bootstrap port forwards to the first
    /// broker. Clients then talk to the brokers' advertised addresses directly, as with real Kafka.
    /// </summary>
    private sealed class BootstrapProxy : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly string _target;
        private readonly CancellationTokenSource _cts = new();

        public BootstrapProxy(int port, string target)
        {
            _target = target;
            _listener = new TcpListener(IPAddress.Loopback, port);
            _listener.Start();
            Port = port;
            _ = AcceptLoop();
        }

        public int Port { get; }

        private async Task AcceptLoop()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_cts.Token);
                }
                catch (Exception)
                {
                    return;
                }

                _ = Pipe(client);
            }
        }

        private async Task Pipe(TcpClient client)
        {
            using (client)
            using (var upstream = new TcpClient())
            {
                try
                {
                    var hostPort = _target.Split(':');
                    await upstream.ConnectAsync(hostPort[0], int.Parse(hostPort[1], System.Globalization.CultureInfo.InvariantCulture), _cts.Token);
                    var a = client.GetStream();
                    var b = upstream.GetStream();
                    await Task.WhenAny(a.CopyToAsync(b, _cts.Token), b.CopyToAsync(a, _cts.Token));
                }
                catch (Exception)
                {
                    // A client that goes away ends its pipe.
                }
            }
        }

        public void Dispose()
        {
            _cts.Cancel();
            _listener.Stop();
            _cts.Dispose();
        }
    }
}
