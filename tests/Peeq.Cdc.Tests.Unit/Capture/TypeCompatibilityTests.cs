using Peeq.Cdc.Contracts;

namespace Peeq.Cdc.Tests.Unit.Capture;

/// <summary>Which column type can hold every value of another: the schema-change check of Transform and Sink.</summary>
public sealed class TypeCompatibilityTests
{
    [Theory]
    [InlineData("bigint", "integer")]
    [InlineData("integer", "smallint")]
    [InlineData("numeric", "bigint")]
    [InlineData("numeric(12,2)", "integer")]
    [InlineData("text", "character varying(30)")]
    [InlineData("character varying(40)", "character varying(30)")]
    [InlineData("character varying", "text")]
    [InlineData("timestamp with time zone", "timestamp(3) with time zone")]
    [InlineData("double precision", "real")]
    [InlineData("bigint[]", "integer[]")]
    public void widening_is_accepted(string holder, string values) => Assert.True(TypeCompatibility.CanHold(holder, values));

    [Theory]
    [InlineData("integer", "bigint")]
    [InlineData("smallint", "integer")]
    [InlineData("numeric(5,2)", "integer")]
    [InlineData("character varying(20)", "character varying(30)")]
    [InlineData("character varying(20)", "text")]
    [InlineData("timestamp without time zone", "timestamp with time zone")]
    [InlineData("uuid", "text")]
    [InlineData("integer[]", "integer")]
    [InlineData("jsonb", "json")]
    public void narrowing_or_a_change_of_kind_is_refused(string holder, string values) => Assert.False(TypeCompatibility.CanHold(holder, values));
}
