//! Points in time as the API shows them (RFC 3339, UTC) and as the store keeps them (microseconds
//! since the Unix epoch, which both PostgreSQL and SQLite store exactly as a 64-bit integer).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_micros: i64,
}

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_unix_micros(unix_micros: i64) -> Self {
        Self { unix_micros }
    }

    pub fn unix_micros(self) -> i64 {
        self.unix_micros
    }

    fn from_datetime(datetime: OffsetDateTime) -> Self {
        let micros = datetime.unix_timestamp_nanos() / 1_000;
        Self {
            unix_micros: micros as i64,
        }
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.unix_micros) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn to_rfc3339(self) -> String {
        self.to_datetime().format(&Rfc3339).unwrap_or_default()
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Self::from_datetime)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339_with_microsecond_precision() {
        let original = Timestamp::from_unix_micros(1_764_000_000_123_456);
        let text = original.to_rfc3339();
        assert_eq!(text, "2025-11-24T16:00:00.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&text), Some(original));
    }
}
