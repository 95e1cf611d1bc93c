using System.Globalization;

namespace Peeq.Cdc.Transform.Mapping.Language;

/// <summary>
/// Parses a mapping expression (a small SQL-like language, see docs/mappings.md) by recursive descent.
/// Precedence, loosest first: or; and; not; comparison (= &lt;&gt; &lt; &lt;= &gt; &gt;= is [not] null, [not] like,
/// [not] in); ||; + -; *; unary -; -&gt; and -&gt;&gt; (JSON).
/// </summary>
public sealed class Parser
{
    private static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
    {
        "and", "or", "not", "is", "null", "true", "false", "case", "when", "then", "else", "end", "like", "in",
    };

    private readonly List<Token> _tokens;
    private int _pos;

    private Parser(string text)
    {
        _tokens = Lexer.Tokenize(text);
    }

    public static Expr Parse(string text)
    {
        var p = new Parser(text);
        if (p.Peek.Kind == TokenKind.End)
        {
            throw new ExpressionException("empty expression", 0);
        }

        var e = p.Or();
        if (p.Peek.Kind != TokenKind.End)
        {
            throw new ExpressionException($"unexpected '{p.Peek.Text}' after the expression", p.Peek.Offset);
        }

        return e;
    }

    private Token Peek => _tokens[_pos];

    private Token Next() => _tokens[_pos++];

    private bool IsKeyword(string k, int ahead = 0) =>
        _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)] is { Kind: TokenKind.Identifier } t && string.Equals(t.Text, k, StringComparison.OrdinalIgnoreCase);

    private bool IsOp(string op) => Peek is { Kind: TokenKind.Operator } t && t.Text == op;

    private void Expect(string keyword)
    {
        if (!IsKeyword(keyword))
        {
            throw new ExpressionException($"expected '{keyword}' but found '{(Peek.Kind == TokenKind.End ? "end of expression" : Peek.Text)}'", Peek.Offset);
        }

        _pos++;
    }

    private Expr Or()
    {
        var e = And();
        while (IsKeyword("or"))
        {
            var t = Next();
            e = new BinaryExpr(t.Offset, "or", e, And());
        }

        return e;
    }

    private Expr And()
    {
        var e = Not();
        while (IsKeyword("and"))
        {
            var t = Next();
            e = new BinaryExpr(t.Offset, "and", e, Not());
        }

        return e;
    }

    private Expr Not()
    {
        if (IsKeyword("not"))
        {
            var t = Next();
            return new UnaryExpr(t.Offset, "not", Not());
        }

        return Comparison();
    }

    private Expr Comparison()
    {
        var e = Concat();
        if (Peek.Kind == TokenKind.Operator && Peek.Text is "=" or "<>" or "!=" or "<" or "<=" or ">" or ">=")
        {
            var t = Next();
            return new BinaryExpr(t.Offset, t.Text, e, Concat());
        }

        if (IsKeyword("is"))
        {
            var t = Next();
            var negated = false;
            if (IsKeyword("not"))
            {
                _pos++;
                negated = true;
            }

            Expect("null");
            return new IsNullExpr(t.Offset, e, negated);
        }

        var not = IsKeyword("not") && (IsKeyword("like", 1) || IsKeyword("in", 1));
        if (not)
        {
            _pos++;
        }

        if (IsKeyword("like"))
        {
            var t = Next();
            return new LikeExpr(t.Offset, e, Concat(), not);
        }

        if (IsKeyword("in"))
        {
            var t = Next();
            if (Peek.Kind != TokenKind.LParen)
            {
                throw new ExpressionException("expected '(' after 'in'", Peek.Offset);
            }

            _pos++;
            var list = new List<Expr> { Or() };
            while (Peek.Kind == TokenKind.Comma)
            {
                _pos++;
                list.Add(Or());
            }

            if (Peek.Kind != TokenKind.RParen)
            {
                throw new ExpressionException("expected ')' to close the 'in' list", Peek.Offset);
            }

            _pos++;
            return new InExpr(t.Offset, e, list, not);
        }

        return e;
    }

    private Expr Concat()
    {
        var e = Additive();
        while (IsOp("||"))
        {
            var t = Next();
            e = new BinaryExpr(t.Offset, "||", e, Additive());
        }

        return e;
    }

    private Expr Additive()
    {
        var e = Multiplicative();
        while (IsOp("+") || IsOp("-"))
        {
            var t = Next();
            e = new BinaryExpr(t.Offset, t.Text, e, Multiplicative());
        }

        return e;
    }

    private Expr Multiplicative()
    {
        var e = Unary();
        while (IsOp("*"))
        {
            var t = Next();
            e = new BinaryExpr(t.Offset, "*", e, Unary());
        }

        return e;
    }

    private Expr Unary()
    {
        if (IsOp("-"))
        {
            var t = Next();
            return new UnaryExpr(t.Offset, "-", Unary());
        }

        return Postfix();
    }

    private Expr Postfix()
    {
        var e = Primary();
        while (IsOp("->") || IsOp("->>"))
        {
            var t = Next();
            var key = Next();
            if (key.Kind is not (TokenKind.String or TokenKind.Number))
            {
                throw new ExpressionException($"'{t.Text}' takes a key in quotes ('id') or an array index", key.Offset);
            }

            var path = key.Kind == TokenKind.Number ? $"[{key.Text}]" : key.Text;
            e = new CallExpr(t.Offset, t.Text == "->>" ? "json_text" : "json_get",
                [e, new LiteralExpr(key.Offset, new TextValue(path, SqlType.Text), SqlType.Text)]);
        }

        return e;
    }

    private Expr Primary()
    {
        var t = Peek;
        switch (t.Kind)
        {
            case TokenKind.String:
                _pos++;
                return new LiteralExpr(t.Offset, new TextValue(t.Text, SqlType.Text), SqlType.Text);
            case TokenKind.Number:
                _pos++;
                if (!t.Text.Contains('.', StringComparison.Ordinal) && long.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return new LiteralExpr(t.Offset, new IntValue(n), SqlType.Int8);
                }

                if (!ExactDecimal.TryParse(t.Text, out var d))
                {
                    throw new ExpressionException($"'{t.Text}' is not a number", t.Offset);
                }

                return new LiteralExpr(t.Offset, new DecimalValue(d), SqlType.Numeric);
            case TokenKind.LParen:
                _pos++;
                var inner = Or();
                if (Peek.Kind != TokenKind.RParen)
                {
                    throw new ExpressionException("expected ')'", Peek.Offset);
                }

                _pos++;
                return inner;
            case TokenKind.Identifier:
                if (t.Text.StartsWith('"'))
                {
                    _pos++;
                    return new ColumnExpr(t.Offset, t.Text[1..]);
                }

                if (IsKeyword("null"))
                {
                    _pos++;
                    return new LiteralExpr(t.Offset, Value.Null, SqlType.Null);
                }

                if (IsKeyword("true") || IsKeyword("false"))
                {
                    _pos++;
                    return new LiteralExpr(t.Offset, new BoolValue(IsKeywordText(t, "true")), SqlType.Bool);
                }

                if (IsKeyword("case"))
                {
                    return Case();
                }

                if (Keywords.Contains(t.Text))
                {
                    throw new ExpressionException($"unexpected keyword '{t.Text}'", t.Offset);
                }

                _pos++;
                if (Peek.Kind == TokenKind.LParen)
                {
                    _pos++;
                    var args = new List<Expr>();
                    if (Peek.Kind != TokenKind.RParen)
                    {
                        args.Add(Or());
                        while (Peek.Kind == TokenKind.Comma)
                        {
                            _pos++;
                            args.Add(Or());
                        }
                    }

                    if (Peek.Kind != TokenKind.RParen)
                    {
                        throw new ExpressionException($"expected ',' or ')' in the arguments of {t.Text}()", Peek.Offset);
                    }

                    _pos++;
                    return new CallExpr(t.Offset, t.Text.ToLowerInvariant(), args);
                }

                return new ColumnExpr(t.Offset, t.Text);
            case TokenKind.End:
                throw new ExpressionException("the expression ends too early", t.Offset);
            default:
                throw new ExpressionException($"unexpected '{t.Text}'", t.Offset);
        }
    }

    private static bool IsKeywordText(Token t, string k) => string.Equals(t.Text, k, StringComparison.OrdinalIgnoreCase);

    private Expr Case()
    {
        var start = Next();
        Expr? operand = null;
        if (!IsKeyword("when"))
        {
            operand = Or();
        }

        var whens = new List<(Expr, Expr)>();
        while (IsKeyword("when"))
        {
            _pos++;
            var w = Or();
            Expect("then");
            whens.Add((w, Or()));
        }

        if (whens.Count == 0)
        {
            throw new ExpressionException("'case' needs at least one 'when ... then ...'", Peek.Offset);
        }

        Expr? otherwise = null;
        if (IsKeyword("else"))
        {
            _pos++;
            otherwise = Or();
        }

        Expect("end");
        return new CaseExpr(start.Offset, operand, whens, otherwise);
    }
}
