//! Which roles may call which RPC. Health and reflection stay open so probes and tooling work
//! without a token; anything unknown is refused (fail closed).

use super::Role::{self, Admin, Checkout, Fulfilment, Storefront};

/// What a request to a path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Open,
    /// A token with one of these roles.
    Roles(&'static [Role]),
    /// Nobody: not an RPC of this service.
    Unknown,
}

const READERS: &[Role] = &[Storefront, Checkout, Fulfilment, Admin];
const CHECKOUT: &[Role] = &[Checkout];
const ORDER_READERS: &[Role] = &[Checkout, Fulfilment, Admin];
const CANCELLERS: &[Role] = &[Checkout, Fulfilment, Admin];
const FULFILMENT: &[Role] = &[Fulfilment];
const STOCK_WATCHERS: &[Role] = &[Fulfilment, Admin];
const ADMIN: &[Role] = &[Admin];

/// The access rule of a gRPC path such as `/stockd.v1.AvailabilityService/CheckQuantities`.
pub fn access(path: &str) -> Access {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return Access::Unknown;
    };
    if service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.") {
        return Access::Open;
    }
    let roles = match (service, method) {
        ("stockd.v1.AvailabilityService", _) => READERS,
        ("stockd.v1.ReservationService", "GetOrder" | "ListOrderReservations") => ORDER_READERS,
        ("stockd.v1.ReservationService", "CancelOrder") => CANCELLERS,
        ("stockd.v1.ReservationService", "ListSkuHolders") => &[Checkout, Admin],
        ("stockd.v1.ReservationService", _) => CHECKOUT,
        ("stockd.v1.FulfilmentService", "ListLowStock") => STOCK_WATCHERS,
        ("stockd.v1.FulfilmentService", "CheckConsistency") => ADMIN,
        ("stockd.v1.FulfilmentService", _) => FULFILMENT,
        (
            "stockd.v1.SourceService"
            | "stockd.v1.StockService"
            | "stockd.v1.SourceItemService"
            | "stockd.v1.SettingsService",
            _,
        ) => ADMIN,
        _ => return Access::Unknown,
    };
    Access::Roles(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(path: &str) -> &'static [Role] {
        match access(path) {
            Access::Roles(roles) => roles,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn probes_and_tooling_need_no_token() {
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(
            access("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Access::Open
        );
        assert_eq!(
            access("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            Access::Open
        );
    }

    #[test]
    fn each_role_reaches_its_own_services() {
        assert!(roles("/stockd.v1.AvailabilityService/GetSalableQuantities").contains(&Storefront));
        assert_eq!(
            roles("/stockd.v1.ReservationService/PlaceOrder"),
            [Checkout]
        );
        assert!(roles("/stockd.v1.ReservationService/CancelOrder").contains(&Fulfilment));
        assert_eq!(
            roles("/stockd.v1.FulfilmentService/ConfirmShipment"),
            [Fulfilment]
        );
        assert_eq!(
            roles("/stockd.v1.FulfilmentService/CheckConsistency"),
            [Admin]
        );
        assert_eq!(
            roles("/stockd.v1.SettingsService/UpdateGlobalSettings"),
            [Admin]
        );
        assert!(!roles("/stockd.v1.ReservationService/PlaceOrder").contains(&Storefront));
    }

    #[test]
    fn unknown_paths_are_refused() {
        assert_eq!(access("/stockd.v1.Nope/Call"), Access::Unknown);
        assert_eq!(access("garbage"), Access::Unknown);
    }
}
