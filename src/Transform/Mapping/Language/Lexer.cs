using System.Text;

namespace Peeq.Cdc.Transform.Mapping.Language;

public enum TokenKind
{
    Identifier,
    String,
    Number,
    Operator,
    LParen,
    RParen,
    Comma,
    End,
}

/// <summary>A token and where it starts in the expression text (0-based).</summary>
public readonly record struct Token(TokenKind Kind, string Text, int Offset);

/// <summary>An expression that cannot be parsed or type-checked; <see cref="Offset"/> is where, in the expression text.</summary>
public sealed class ExpressionException(string message, int offset) : Exception(message)
{
    public int Offset { get; } = offset;
}

/// <summary>Splits an expression into tokens: identifiers (optionally "quoted"), 'strings', numbers, operators.</summary>
public static class Lexer
{
    private static readonly string[] Operators = ["->>", "->", "||", "<>", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*"];

    public static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var start = i;
            if (c == '(')
            {
                tokens.Add(new Token(TokenKind.LParen, "(", i++));
            }
            else if (c == ')')
            {
                tokens.Add(new Token(TokenKind.RParen, ")", i++));
            }
            else if (c == ',')
            {
                tokens.Add(new Token(TokenKind.Comma, ",", i++));
            }
            else if (c == '\'')
            {
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new ExpressionException("unterminated string literal (strings are in single quotes; write '' for a quote inside)", start);
                    }

                    if (text[i] == '\'')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '\'')
                        {
                            sb.Append('\'');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    sb.Append(text[i++]);
                }

                tokens.Add(new Token(TokenKind.String, sb.ToString(), start));
            }
            else if (c == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new ExpressionException("unterminated quoted identifier", start);
                    }

                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            sb.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    sb.Append(text[i++]);
                }

                // Quoted identifiers keep their case and are never keywords.
                tokens.Add(new Token(TokenKind.Identifier, "\"" + sb, start));
            }
            else if (char.IsAsciiDigit(c))
            {
                while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Number, text[start..i], start));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Identifier, text[start..i], start));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(text, i, o, 0, o.Length) == 0)
                    ?? throw new ExpressionException($"unexpected character '{c}'", i);
                tokens.Add(new Token(TokenKind.Operator, op, i));
                i += op.Length;
            }
        }

        tokens.Add(new Token(TokenKind.End, "", text.Length));
        return tokens;
    }
}
