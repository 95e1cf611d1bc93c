using Npgsql;
using Peeq.Cdc.Postgres;
using Xunit;

namespace Peeq.Cdc.Tests.Unit.Connections;

public class PgConnectionsTests
{
    [Fact]
    public void A_connection_the_server_closed_is_explained_as_such_not_as_a_stream_read()
    {
        var e = new NpgsqlException("Exception while reading from stream", new EndOfStreamException("Attempted to read past the end of the stream."));

        var text = PgConnections.Explain(e);

        Assert.Contains("server closed the connection", text);
        Assert.DoesNotContain("past the end of the stream", text);
        Assert.False(PgConnections.IsPermanent(e));
    }

    [Fact]
    public void Other_io_errors_keep_their_own_message()
    {
        var e = new NpgsqlException("Exception while reading from stream", new IOException("Connection reset by peer"));

        Assert.Equal("Connection reset by peer", PgConnections.Explain(e));
    }
}
