from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from webapp.datasets import views as dataset_views
from webapp.evals import views as eval_views
from webapp.playground import views as playground_views
from webapp.runs import views as run_views
from webapp.serving import api
from webapp.serving import views as serving_views

# Password reset only where mail can be sent (settings.FTLOOP_PASSWORD_RESET); login and password change always.
account_urls = [pattern for pattern in auth_urls.urlpatterns
                if settings.FTLOOP_PASSWORD_RESET or not pattern.name.startswith("password_reset")]

urlpatterns = [
    path("", run_views.dashboard, name="dashboard"),
    path("dashboard/partial/", run_views.dashboard_partial, name="dashboard_partial"),
    path("dashboard/health/", run_views.health_banner, name="health_banner"),
    path("runs/<int:pk>/", run_views.run_detail, name="run_detail"),
    path("runs/<int:pk>/metrics.json", run_views.run_metrics, name="run_metrics"),
    path("runs/<int:pk>/evaluate-remote/", run_views.run_evaluate_remote, name="run_evaluate_remote"),
    path("runs/<int:pk>/delete-remote-model/", run_views.run_delete_remote_model, name="run_delete_remote_model"),
    path("runs/<int:pk>/tracker/", run_views.run_tracker, name="run_tracker"),
    path("runs/<int:pk>/artifacts/<str:name>", run_views.run_artifact, name="run_artifact"),
    path("runs/train/", run_views.training_new, name="training_new"),
    path("runs/<int:pk>/cancel/", run_views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/requeue/", run_views.run_requeue, name="run_requeue"),
    path("loops/new/", run_views.loop_new, name="loop_new"),
    path("loops/<int:pk>/", run_views.loop_detail, name="loop_detail"),
    path("evals/compare/", eval_views.compare, name="compare"),
    path("evals/compare/data.json", eval_views.compare_data, name="compare_data"),
    path("evals/compare/import/", eval_views.compare_import, name="compare_import"),
    path("evals/ab/", eval_views.ab_tests, name="ab_tests"),
    path("evals/ab/new/", eval_views.ab_test_create, name="ab_test_create"),
    path("evals/ab/<int:pk>/", eval_views.ab_test_detail, name="ab_test_detail"),
    path("evals/ab/<int:pk>/data.json", eval_views.ab_test_data, name="ab_test_data"),
    path("evals/criteria/", eval_views.criteria, name="criteria"),
    path("evals/criteria/<int:pk>/", eval_views.criterion_update, name="criterion_update"),
    path("playground/", playground_views.playground, name="playground"),
    path("playground/sample/", playground_views.sample, name="playground_sample"),
    path("playground/<int:pk>/correct/", playground_views.correct, name="playground_correct"),
    path("playground/corrections/", playground_views.corrections, name="corrections"),
    path("datasets/new/", dataset_views.dataset_new, name="dataset_new"),
    path("datasets/import/", dataset_views.dataset_import, name="dataset_import"),
    path("datasets/labelled/import/", dataset_views.labelled_import, name="labelled_import"),
    path("datasets/field-sets/", dataset_views.field_sets, name="field_sets"),
    path("datasets/<int:pk>/", dataset_views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/runs/", dataset_views.dataset_runs_partial, name="dataset_runs_partial"),
    path("datasets/<int:pk>/stats.json", dataset_views.dataset_stats, name="dataset_stats"),
    path("datasets/<int:pk>/download/frozen/", dataset_views.frozen_download, name="frozen_download"),
    path("datasets/<int:pk>/download/<str:name>", dataset_views.dataset_download, name="dataset_download"),
    path("models/", serving_views.model_list, name="models"),
    path("models/add-base/", serving_views.model_add_base, name="model_add_base"),
    path("models/<int:pk>/", serving_views.model_detail, name="model_detail"),
    path("models/<int:pk>/evaluate/", serving_views.model_evaluate, name="model_evaluate"),
    path("models/<int:pk>/export/", serving_views.model_export, name="model_export"),
    path("models/<int:pk>/promote/", serving_views.model_promote, name="model_promote"),
    path("releases/", serving_views.release_list, name="releases"),
    path("releases/<str:task>/rollback/", serving_views.release_rollback, name="release_rollback"),
    path("exports/<int:pk>/files/<path:name>", serving_views.export_download, name="export_download"),
    path("api-tokens/", serving_views.token_list, name="api_tokens"),
    path("api-tokens/<int:pk>/revoke/", serving_views.token_revoke, name="api_token_revoke"),
    # The prediction API: token auth, JSON only (an unknown path under /api/ too).
    path("api/v1/", include((api.urlpatterns(), "api"))),
    path("api/<path:rest>", login_not_required(api.not_found)),
    path("accounts/", include(account_urls)),
    # The language switch works on the login page too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    path("healthz", run_views.healthz, name="healthz"),
]
