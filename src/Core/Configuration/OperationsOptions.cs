namespace Peeq.Cdc.Configuration;

/// <summary>The dashboard and <c>peeq-cdc status</c> (docs/operations.md).</summary>
public sealed class DashboardOptions
{
    /// <summary>
    /// The workers' /metrics URLs to scrape when the dashboard runs on its own (<c>peeq-cdc dashboard</c>,
    /// <c>peeq-cdc status</c>). Inside <c>run</c> and <c>demo</c> the process's own metrics are read directly.
    /// </summary>
    public List<string> Metrics { get; set; } = [];

    /// <summary>How often the status is sampled (the page polls at the same pace).</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A source whose lag reaches this is reported as stalled (dashboard state and a notification).</summary>
    public TimeSpan StallAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Directory holding reconciliation reports (one run per subdirectory or a reconciliation.json directly in it);
    /// the dashboard lists the latest verdicts and links to them. Relative to the config file.
    /// </summary>
    public string? Reports { get; set; }
}

/// <summary>Where pipeline events (a source stalled, a table parked, a reconciliation finished) are published.</summary>
public sealed class NotificationsOptions
{
    /// <summary><c>inmemory</c> (subscribers inside the process only), <c>rabbitmq</c>, or <c>off</c>.</summary>
    public string Transport { get; set; } = "inmemory";

    public RabbitMqOptions RabbitMq { get; set; } = new();
}

public sealed class RabbitMqOptions
{
    /// <summary>AMQP URI, e.g. <c>rabbitmqs://rabbit.internal:5671/peeq</c> (the path is the virtual host).</summary>
    public string Host { get; set; } = "";

    public string Username { get; set; } = "guest";

    /// <summary>Use <c>${ENV}</c>; never written in the file.</summary>
    public string Password { get; set; } = "";
}
