//! Sources, stocks and source items between protobuf and the domain.

use super::{non_negative_quantity, qty, sku, source_code};
use crate::{
    domain::{
        SourceItem, SourceItemStatus, ValidationError,
        source::{
            Address, Contact, GeoField, GeoPoint, Source, SourceDetails, check_multiline_text,
            check_text,
        },
        stock::{SourceLink, Stock},
    },
    grpc::pb,
    repo::source_items::SourceItemWrite,
    validation::Violations,
};

/// Parses the descriptive fields of a source message under `prefix` (e.g. "source");
/// `require_name` is false for updates that leave the name alone.
pub(crate) fn source_details(
    v: &mut Violations,
    prefix: &str,
    s: &pb::Source,
    require_name: bool,
) -> SourceDetails {
    let mut text =
        |field: &str, value: &str, rule: &dyn Fn(&str) -> Result<(), ValidationError>| {
            v.check(format!("{prefix}.{field}"), rule(value));
            value.to_owned()
        };
    let line = |value: &str| check_text(value, false);
    let address = s.address.clone().unwrap_or_default();
    let contact = s.contact.clone().unwrap_or_default();
    let details = SourceDetails {
        name: text("name", &s.name, &|value| check_text(value, require_name)),
        description: text("description", &s.description, &check_multiline_text),
        address: Address {
            country: text("address.country", &address.country, &line),
            region: text("address.region", &address.region, &line),
            city: text("address.city", &address.city, &line),
            postcode: text("address.postcode", &address.postcode, &line),
            street: text("address.street", &address.street, &line),
        },
        location: None,
        contact: Contact {
            name: text("contact.name", &contact.name, &line),
            email: text("contact.email", &contact.email, &line),
            phone: text("contact.phone", &contact.phone, &line),
        },
    };
    SourceDetails {
        location: s.location.as_ref().and_then(|p| geo_point(v, prefix, p)),
        ..details
    }
}

fn geo_point(v: &mut Violations, prefix: &str, p: &pb::GeoPoint) -> Option<GeoPoint> {
    match GeoPoint::new(p.latitude, p.longitude) {
        Ok(point) => Some(point),
        Err(errors) => {
            for (field, error) in errors {
                let name = match field {
                    GeoField::Latitude => "latitude",
                    GeoField::Longitude => "longitude",
                };
                v.add(format!("{prefix}.location.{name}"), error);
            }
            None
        }
    }
}

/// A source for the wire.
pub(crate) fn source_to_pb(s: Source) -> pb::Source {
    let d = s.details;
    pb::Source {
        code: s.code.to_string(),
        name: d.name,
        enabled: Some(s.enabled),
        description: d.description,
        address: Some(pb::Address {
            country: d.address.country,
            region: d.address.region,
            city: d.address.city,
            postcode: d.address.postcode,
            street: d.address.street,
        }),
        location: d.location.map(|p| pb::GeoPoint {
            latitude: p.latitude(),
            longitude: p.longitude(),
        }),
        contact: Some(pb::Contact {
            name: d.contact.name,
            email: d.contact.email,
            phone: d.contact.phone,
        }),
    }
}

/// A stock for the wire.
pub(crate) fn stock_to_pb(s: Stock) -> pb::Stock {
    pb::Stock {
        stock_id: s.id.get(),
        name: s.name,
        links: s
            .links
            .into_iter()
            .map(|l| pb::SourceLink {
                source_code: l.source.to_string(),
                priority: l.priority,
            })
            .collect(),
        sales_channels: s
            .sales_channels
            .into_iter()
            .map(|c| pb::SalesChannel {
                r#type: c.kind().to_owned(),
                code: c.code().to_owned(),
            })
            .collect(),
    }
}

/// Parses the links of a LinkSources request.
pub(crate) fn links(v: &mut Violations, links: &[pb::SourceLink]) -> Vec<SourceLink> {
    links
        .iter()
        .enumerate()
        .filter_map(|(i, link)| {
            let source = source_code(v, &format!("links[{i}].source_code"), &link.source_code);
            let priority = if link.priority == 0 {
                v.add(format!("links[{i}].priority"), "must be 1 or more");
                None
            } else if i32::try_from(link.priority).is_err() {
                v.add(format!("links[{i}].priority"), "is out of range");
                None
            } else {
                Some(link.priority)
            };
            Some(SourceLink {
                source: source?,
                priority: priority?,
            })
        })
        .collect()
}

/// Parses one source item of an upsert batch.
pub(crate) fn source_item_write(
    v: &mut Violations,
    i: usize,
    item: &pb::SourceItem,
) -> Option<SourceItemWrite> {
    let source = source_code(v, &format!("items[{i}].source_code"), &item.source_code);
    let sku = sku(v, &format!("items[{i}].sku"), &item.sku);
    let quantity = non_negative_quantity(v, &format!("items[{i}].quantity"), &item.quantity);
    let status = match pb::SourceItemStatus::try_from(item.status) {
        Ok(pb::SourceItemStatus::InStock) => Some(SourceItemStatus::InStock),
        Ok(pb::SourceItemStatus::OutOfStock) => Some(SourceItemStatus::OutOfStock),
        _ => {
            v.add(
                format!("items[{i}].status"),
                "must be IN_STOCK or OUT_OF_STOCK",
            );
            None
        }
    };
    Some(SourceItemWrite {
        source: source?,
        sku: sku?,
        quantity: quantity?,
        status: status?,
    })
}

/// A source item for the wire.
pub(crate) fn source_item_to_pb(item: SourceItem) -> pb::SourceItem {
    let status = match item.status {
        SourceItemStatus::InStock => pb::SourceItemStatus::InStock,
        SourceItemStatus::OutOfStock => pb::SourceItemStatus::OutOfStock,
    };
    pb::SourceItem {
        source_code: item.source.to_string(),
        sku: item.sku.to_string(),
        quantity: qty(item.quantity),
        status: status as i32,
        settings: Some(super::settings::item_stored_to_pb(&item.settings)),
        expected_quantity: None,
    }
}
