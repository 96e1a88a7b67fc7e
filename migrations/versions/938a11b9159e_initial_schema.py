"""initial schema

Revision ID: 938a11b9159e
Revises: 
Create Date: 2026-11-26 04:02:49.060765

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '938a11b9159e'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('default_llm_config_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('slug', name=op.f('uq_organizations_slug'))
    )
    op.create_table('courses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('llm_config_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_courses_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_courses'))
    )
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_courses_organization_id'), ['organization_id'], unique=False)

    op.create_table('organization_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('secret_hint', sa.String(length=8), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_verified_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_credentials_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_credentials'))
    )
    with op.batch_alter_table('organization_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_credentials_organization_id'), ['organization_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_users_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_organization_id'), ['organization_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('homeworks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('llm_config_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_homeworks_course_id_courses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_homeworks'))
    )
    with op.batch_alter_table('homeworks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_homeworks_course_id'), ['course_id'], unique=False)

    op.create_table('llm_configs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('credential_id', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['organization_credentials.id'], name=op.f('fk_llm_configs_credential_id_organization_credentials'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_llm_configs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_configs'))
    )
    with op.batch_alter_table('llm_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_llm_configs_credential_id'), ['credential_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_llm_configs_organization_id'), ['organization_id'], unique=False)

    # organizations, courses and homeworks point at llm_configs, which points back at
    # organizations: those three keys are added once llm_configs exists.
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_organizations_default_llm_config_id_llm_configs'), 'llm_configs', ['default_llm_config_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_courses_llm_config_id_llm_configs'), 'llm_configs', ['llm_config_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('homeworks', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_homeworks_llm_config_id_llm_configs'), 'llm_configs', ['llm_config_id'], ['id'], ondelete='SET NULL')

    op.create_table('fallback_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('from_config_id', sa.Integer(), nullable=True),
    sa.Column('to_config_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('elapsed_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['from_config_id'], ['llm_configs.id'], name=op.f('fk_fallback_events_from_config_id_llm_configs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_fallback_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_config_id'], ['llm_configs.id'], name=op.f('fk_fallback_events_to_config_id_llm_configs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fallback_events'))
    )
    with op.batch_alter_table('fallback_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fallback_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fallback_events_organization_id'), ['organization_id'], unique=False)



def downgrade():
    # Undo the cross-links first so llm_configs can be dropped on any database.
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organizations_default_llm_config_id_llm_configs'), type_='foreignkey')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_courses_llm_config_id_llm_configs'), type_='foreignkey')
    with op.batch_alter_table('homeworks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_homeworks_llm_config_id_llm_configs'), type_='foreignkey')

    with op.batch_alter_table('fallback_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fallback_events_organization_id'))
        batch_op.drop_index(batch_op.f('ix_fallback_events_at'))

    op.drop_table('fallback_events')
    with op.batch_alter_table('llm_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_configs_organization_id'))
        batch_op.drop_index(batch_op.f('ix_llm_configs_credential_id'))

    op.drop_table('llm_configs')
    with op.batch_alter_table('homeworks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_homeworks_course_id'))

    op.drop_table('homeworks')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_organization_id'))

    op.drop_table('users')
    with op.batch_alter_table('organization_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_credentials_organization_id'))

    op.drop_table('organization_credentials')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_courses_organization_id'))

    op.drop_table('courses')
    op.drop_table('organizations')
