//! social: a viewer's friends, closest first. The Friends feed reads the ❤️s of a viewer's
//! `social.friends_feed_closest_friends` closest friends; this index gives them as one range
//! (read backwards: most interactions first), whatever the number of friends.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000007_social_closest_friends"
    }
}

#[derive(DeriveIden)]
enum SocialFriendships {
    Table,
    UserId,
    Interactions,
    FriendId,
}

const INDEX: &str = "idx_social_friendships_user_closeness";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(INDEX)
                    .table(SocialFriendships::Table)
                    .col(SocialFriendships::UserId)
                    .col(SocialFriendships::Interactions)
                    .col(SocialFriendships::FriendId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(SocialFriendships::Table)
                    .to_owned(),
            )
            .await
    }
}
