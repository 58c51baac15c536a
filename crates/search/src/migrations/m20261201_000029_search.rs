//! search: the documents the index should hold, as the other modules' events describe them
//! (`search_documents`: one row per video, channel, live room and product, with the version of
//! the last change applied and a tombstone once deleted), numbered in commit order by one
//! counter (`search_sequence`), which is how every index knows what it has not applied yet.
//!
//! No foreign keys: every id belongs to another module.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000029_search"
    }
}

#[derive(DeriveIden)]
enum SearchDocuments {
    Table,
    Kind,
    DocId,
    Version,
    Visible,
    Deleted,
    Document,
    Seq,
    ChangedAt,
}

#[derive(DeriveIden)]
enum SearchSequence {
    Table,
    Id,
    Last,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SearchDocuments::Table)
                    // v | c | l | p (`DocKind::code`)
                    .col(ColumnDef::new(SearchDocuments::Kind).string_len(1).not_null())
                    .col(ColumnDef::new(SearchDocuments::DocId).big_integer().not_null())
                    // The owning module's version of the aggregate last applied.
                    .col(ColumnDef::new(SearchDocuments::Version).big_integer().not_null())
                    // Whether anyone may find it now (published, on the shelf, upcoming or live).
                    .col(ColumnDef::new(SearchDocuments::Visible).boolean().not_null())
                    // Deleted for good: no older event brings it back.
                    .col(ColumnDef::new(SearchDocuments::Deleted).boolean().not_null().default(false))
                    // The `SearchDocument` as JSON while visible.
                    .col(ColumnDef::new(SearchDocuments::Document).text().null())
                    // The change's number (`search_sequence`), unique, in commit order.
                    .col(ColumnDef::new(SearchDocuments::Seq).big_integer().not_null())
                    // When the change happened (ms since the epoch): the indexing lag is measured from it.
                    .col(ColumnDef::new(SearchDocuments::ChangedAt).big_integer().not_null())
                    .primary_key(Index::create().col(SearchDocuments::Kind).col(SearchDocuments::DocId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("search_documents_seq")
                    .table(SearchDocuments::Table)
                    .col(SearchDocuments::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SearchSequence::Table)
                    .col(ColumnDef::new(SearchSequence::Id).integer().not_null().primary_key())
                    .col(ColumnDef::new(SearchSequence::Last).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(SearchSequence::Table)
                    .columns([SearchSequence::Id, SearchSequence::Last])
                    .values([1.into(), 0.into()])
                    .map_err(|e| DbErr::Custom(e.to_string()))?
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SearchSequence::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SearchDocuments::Table).to_owned()).await?;
        Ok(())
    }
}
