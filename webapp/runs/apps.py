from django.apps import AppConfig
from django.db.models.signals import post_migrate

# Engineers start, cancel and re-queue runs; designers use the playground and spot-check.
PLAYGROUND = ["playground.add_playgroundrequest", "playground.add_correction", "playground.view_correction"]
ROLE_PERMISSIONS = {
    "engineers": [
        "runs.add_stagerun", "runs.change_stagerun", "runs.view_stagerun",
        "datasets.add_dataset", "datasets.change_dataset", "datasets.view_dataset",
        "evals.change_acceptancecriterion", "evals.view_acceptancecriterion", "evals.add_abtest", "evals.view_abtest",
        "serving.view_registeredmodel", "serving.view_release", "serving.add_release",
        "serving.add_apitoken", "serving.change_apitoken", "serving.view_apitoken",
        *PLAYGROUND,
    ],
    "designers": ["runs.view_stagerun", "datasets.view_dataset", "evals.view_abtest",
                  "serving.view_registeredmodel", "serving.view_release", *PLAYGROUND],
}


def ensure_roles(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for group_name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for code in codes:
            app_label, codename = code.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission:
                group.permissions.add(permission)


class RunsConfig(AppConfig):
    name = "webapp.runs"
    label = "runs"

    def ready(self) -> None:
        # Every app's post_migrate: permissions of later apps exist only after theirs.
        post_migrate.connect(ensure_roles, dispatch_uid="ftloop-ensure-roles")
