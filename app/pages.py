"""The page: the live graph, the CNI call transcript, pod actions (unless read-only)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from app.labstate import get_lab

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    plan = get_lab().plan()
    return render_template(
        "index.html",
        read_only=current_app.config["READ_ONLY"],
        nodes=[n.name for n in plan.nodes] if plan else [],
        lab_up=plan is not None,
    )
