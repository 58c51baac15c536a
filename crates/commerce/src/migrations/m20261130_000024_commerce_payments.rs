//! commerce: payment attempts, the notifications providers sent (each stored once), and the
//! built-in sandbox provider's own record of what it was asked to charge.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000024_commerce_payments"
    }
}

#[derive(DeriveIden)]
enum CommercePayments {
    Table,
    Id,
    OrderId,
    Provider,
    OutTradeNo,
    Currency,
    AmountMinor,
    State,
    Action,
    TransactionId,
    PaidAt,
    RefundReason,
    RefundedAt,
    CheckedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CommercePaymentNotifications {
    Table,
    Id,
    Provider,
    EventId,
    Notification,
    ReceivedAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum CommerceSandboxPayments {
    Table,
    OutTradeNo,
    Token,
    Currency,
    AmountMinor,
    Description,
    State,
    TransactionId,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

fn at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn at_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommercePayments::Table)
                    .col(ColumnDef::new(CommercePayments::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(CommercePayments::OrderId).big_integer().not_null())
                    // sandbox | wechatpay
                    .col(ColumnDef::new(CommercePayments::Provider).string_len(16).not_null())
                    // `KJ<id>`, given once the row has its id; a placeholder before.
                    .col(ColumnDef::new(CommercePayments::OutTradeNo).string_len(64).not_null())
                    .col(ColumnDef::new(CommercePayments::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(CommercePayments::AmountMinor).big_integer().not_null())
                    // CREATED | SUCCEEDED | REFUNDING | REFUNDED | REFUND_FAILED | CLOSED
                    .col(ColumnDef::new(CommercePayments::State).string_len(16).not_null())
                    // What the payer does next (JSON), once the provider answered.
                    .col(ColumnDef::new(CommercePayments::Action).string_len(2048).null())
                    .col(ColumnDef::new(CommercePayments::TransactionId).string_len(64).null())
                    .col(at_null(CommercePayments::PaidAt))
                    .col(ColumnDef::new(CommercePayments::RefundReason).string_len(256).null())
                    .col(at_null(CommercePayments::RefundedAt))
                    // When reconciliation last asked the provider about it.
                    .col(at_null(CommercePayments::CheckedAt))
                    .col(at(CommercePayments::CreatedAt))
                    .col(at(CommercePayments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_commerce_payments_out_trade_no")
                    .table(CommercePayments::Table)
                    .col(CommercePayments::OutTradeNo)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_commerce_payments_order").table(CommercePayments::Table).col(CommercePayments::OrderId).to_owned(),
            )
            .await?;
        // Reconciliation's scan: attempts still open, or refunds still running.
        manager
            .create_index(
                Index::create()
                    .name("idx_commerce_payments_state")
                    .table(CommercePayments::Table)
                    .col(CommercePayments::State)
                    .col(CommercePayments::CheckedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CommercePaymentNotifications::Table)
                    .col(ColumnDef::new(CommercePaymentNotifications::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(CommercePaymentNotifications::Provider).string_len(16).not_null())
                    .col(ColumnDef::new(CommercePaymentNotifications::EventId).string_len(128).not_null())
                    // The verified, decrypted notification (JSON of `payments::provider::Notification`).
                    .col(ColumnDef::new(CommercePaymentNotifications::Notification).text().not_null())
                    .col(at(CommercePaymentNotifications::ReceivedAt))
                    .col(at_null(CommercePaymentNotifications::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        // A notification delivered again (providers retry until they get a 2xx) is stored once.
        manager
            .create_index(
                Index::create()
                    .name("uq_commerce_payment_notifications_event")
                    .table(CommercePaymentNotifications::Table)
                    .col(CommercePaymentNotifications::Provider)
                    .col(CommercePaymentNotifications::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceSandboxPayments::Table)
                    .col(ColumnDef::new(CommerceSandboxPayments::OutTradeNo).string_len(64).not_null().primary_key())
                    // The secret in the payment page's URL.
                    .col(ColumnDef::new(CommerceSandboxPayments::Token).string_len(64).not_null())
                    .col(ColumnDef::new(CommerceSandboxPayments::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(CommerceSandboxPayments::AmountMinor).big_integer().not_null())
                    .col(ColumnDef::new(CommerceSandboxPayments::Description).string_len(256).not_null())
                    // OPEN | PAID | FAILED | CLOSED | REFUNDED
                    .col(ColumnDef::new(CommerceSandboxPayments::State).string_len(16).not_null())
                    .col(ColumnDef::new(CommerceSandboxPayments::TransactionId).string_len(64).null())
                    .col(at(CommerceSandboxPayments::ExpiresAt))
                    .col(at(CommerceSandboxPayments::CreatedAt))
                    .col(at(CommerceSandboxPayments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_commerce_sandbox_payments_token")
                    .table(CommerceSandboxPayments::Table)
                    .col(CommerceSandboxPayments::Token)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CommerceSandboxPayments::Table.into_iden(),
            CommercePaymentNotifications::Table.into_iden(),
            CommercePayments::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
