using System.Text;

namespace Peeq.Cdc.Reconciler.Reports;

/// <summary>RFC 4180 CSV, written as rows arrive (the full lists can be long; nothing is held in memory).</summary>
public sealed class CsvWriter : IDisposable
{
    private readonly StreamWriter _writer;

    public CsvWriter(string path, IReadOnlyList<string> header)
    {
        _writer = new StreamWriter(path, false, new UTF8Encoding(false));
        Row([.. header]);
    }

    public long Rows { get; private set; }

    public void Row(params string?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (i > 0)
            {
                _writer.Write(',');
            }

            _writer.Write(Escape(values[i]));
        }

        _writer.Write("\r\n");
        Rows++;
    }

    public static string Escape(string? value)
    {
        if (value is null)
        {
            return "";
        }

        // A leading =, +, - or @ would be a formula to a spreadsheet: quote it with a leading apostrophe.
        if (value.Length > 0 && value[0] is '=' or '+' or '@' && !double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    public void Dispose() => _writer.Dispose();
}
