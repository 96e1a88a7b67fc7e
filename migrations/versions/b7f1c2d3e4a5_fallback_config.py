"""llm_configs.fallback_llm_config_id: the config that takes over when this one fails

Revision ID: b7f1c2d3e4a5
Revises: 938a11b9159e
Create Date: 2026-11-26 04:10:00

The self-referencing key arrives in its own migration so existing databases gain it in place.
On SQLite the batch rebuild runs with foreign keys switched off (migrations/env.py), so copying
llm_configs does not fire ON DELETE SET NULL on the courses, homework and organizations using it.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b7f1c2d3e4a5'
down_revision = '938a11b9159e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('llm_configs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback_llm_config_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_llm_configs_fallback_llm_config_id_llm_configs'),
            'llm_configs', ['fallback_llm_config_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.create_index(batch_op.f('ix_llm_configs_fallback_llm_config_id'), ['fallback_llm_config_id'], unique=False)


def downgrade():
    with op.batch_alter_table('llm_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_configs_fallback_llm_config_id'))
        batch_op.drop_constraint(batch_op.f('fk_llm_configs_fallback_llm_config_id_llm_configs'), type_='foreignkey')
        batch_op.drop_column('fallback_llm_config_id')
