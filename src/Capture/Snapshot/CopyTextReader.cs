using System.Text;

namespace Peeq.Cdc.Capture.Snapshot;

/// <summary>
/// Splits COPY's text format into values: tab-separated fields, <c>\N</c> for NULL, backslash escapes.
/// COPY text gives each value exactly as the type's output function writes it, the same text
/// pgoutput sends, so snapshot and stream events encode identically.
/// </summary>
public static class CopyTextReader
{
    public static string?[] ParseLine(string line, int columns)
    {
        var values = new string?[columns];
        var sb = new StringBuilder();
        var col = 0;
        var i = 0;
        while (true)
        {
            if (i + 1 < line.Length + 1 && line.AsSpan(i).StartsWith("\\N") && (i + 2 == line.Length || line[i + 2] == '\t'))
            {
                values[col] = null;
                i += 2;
            }
            else
            {
                sb.Clear();
                while (i < line.Length && line[i] != '\t')
                {
                    var c = line[i++];
                    if (c != '\\' || i >= line.Length)
                    {
                        sb.Append(c);
                        continue;
                    }

                    var e = line[i++];
                    switch (e)
                    {
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'v': sb.Append('\v'); break;
                        case 'x' when i < line.Length && Uri.IsHexDigit(line[i]):
                            {
                                var start = i;
                                while (i < line.Length && i - start < 2 && Uri.IsHexDigit(line[i]))
                                {
                                    i++;
                                }

                                sb.Append((char)Convert.ToInt32(line[start..i], 16));
                                break;
                            }

                        case >= '0' and <= '7':
                            {
                                var start = i - 1;
                                while (i < line.Length && i - start < 3 && line[i] is >= '0' and <= '7')
                                {
                                    i++;
                                }

                                sb.Append((char)Convert.ToInt32(line[start..i], 8));
                                break;
                            }

                        default: sb.Append(e); break;
                    }
                }

                values[col] = sb.ToString();
            }

            col++;
            if (i >= line.Length)
            {
                break;
            }

            i++; // tab
            if (col >= columns)
            {
                throw new FormatException($"COPY line has more than {columns} fields");
            }
        }

        if (col != columns)
        {
            throw new FormatException($"COPY line has {col} fields, expected {columns}");
        }

        return values;
    }
}
